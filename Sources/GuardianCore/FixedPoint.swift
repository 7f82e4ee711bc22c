import Foundation

/// Decimal text of a number with a fixed count of fraction digits, as `String(format: "%.Nf")`
/// writes it: the double's exact value rounded half to even (`0.165` is 0.16500000000000000777…,
/// so "0.17"), `-0` for a negative that rounds to zero. Without Foundation's formatter: its first
/// use in a process costs most of a millisecond (locale and conformance lookups), which a one-off
/// audit paid for a single message.
public enum FixedPoint {
    /// `digits` from 0 to 3; larger counts and magnitudes of 10^15 or more fall back to printf.
    public static func format(_ value: Double, digits: Int) -> String {
        guard (0...3).contains(digits), value.isFinite, abs(value) < 1e15 else { return fallback(value, digits) }
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let n = scaledRounded(abs(value), scale)
        var out = value.sign == .minus ? "-" : ""
        out += String(n / scale)
        if digits > 0 {
            let f = String(n % scale)
            out += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return out
    }

    /// `a × scale` rounded half to even, computed exactly: `a` is `m × 2^shift` with `m` below 2^53,
    /// and `m × scale` (scale at most 1000) stays below 2^63.
    static func scaledRounded(_ a: Double, _ scale: UInt64) -> UInt64 {
        guard a.isNormal else { return 0 } // zero, or a subnormal far below half a unit
        let m = UInt64(a.significandBitPattern) | (1 << 52)
        let shift = Int(a.exponent) - 52
        let p = m * scale
        if shift >= 0 { return p << UInt64(shift) }
        let s = -shift
        guard s < 64 else { return 0 }
        let q = p >> UInt64(s), r = p & ((1 << UInt64(s)) - 1), half: UInt64 = 1 << UInt64(s - 1)
        return r > half || (r == half && q & 1 == 1) ? q + 1 : q
    }

    private static func fallback(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
}
