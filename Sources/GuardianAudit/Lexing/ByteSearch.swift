import Foundation

extension UnsafeBufferPointer<UInt8> {
    /// The index of the first `byte` in `from..<end` (`memchr`: many bytes compared at once),
    /// nil when there is none.
    func index(of byte: UInt8, from: Int, end: Int? = nil) -> Int? {
        let end = end ?? count
        guard from < end, let base = baseAddress, let hit = memchr(base + from, Int32(byte), end - from) else { return nil }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }
}
