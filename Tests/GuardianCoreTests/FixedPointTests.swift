import Foundation
import GuardianCore
import Testing

/// `FixedPoint.format` writes what `String(format: "%.Nf")` writes, for the shares, ratios and
/// percentages the checks put in their messages, ties and negatives included.
@Suite struct FixedPointTests {
    @Test func matchesPrintf() {
        // 0.165 is just above the tie (printf: "0.17"), but 0.165 * 100 is exactly 16.5
        var values: [Double] = [0, -0.0, 0.5, 1.5, 2.5, -0.5, -0.3, 0.125, 0.165, 0.375, 12.5, 99.5, 99.95, 100, 0.285, 1.005, 2.675,
                                1e-7, 5e-324, 123_456.789, -42.4242, 999_999_999.9995, 1e15, -3.5e20]
        var g = SplitMix(state: 7)
        for _ in 0..<20_000 {
            values.append(Double.random(in: 0...1, using: &g))
            values.append(Double.random(in: 0...100, using: &g))
            values.append(Double(Int.random(in: 0...10_000, using: &g)) / 1000) // three-digit decimals: near-ties at two digits
        }
        for v in values {
            for digits in 0...3 {
                #expect(FixedPoint.format(v, digits: digits) == String(format: "%.\(digits)f", v), "\(v) with \(digits) digits")
            }
        }
    }
}

/// A seeded generator: the same values at every run.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
