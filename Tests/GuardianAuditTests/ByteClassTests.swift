import Testing
@testable import GuardianAudit

@Suite struct ByteClassTests {
    /// The bit tables say, for every byte, what the plain definitions say.
    @Test func identifierBytesAsDefined() {
        for v in 0...255 {
            let b = UInt8(v)
            let letter = (b >= 97 && b <= 122) || (b >= 65 && b <= 90)
            let start = letter || b == 95 || b == 36 || b >= 0x80
            #expect(B.isIdentStart(b) == start, "byte \(v)")
            #expect(B.isIdentChar(b) == (start || (b >= 48 && b <= 57)), "byte \(v)")
        }
    }
}
