/// UTC times as ISO 8601 text with milliseconds (`2026-12-02T12:00:00.123Z`), the form a signed
/// result carries its audit time in. Exact both ways for whole milliseconds, and fast enough for
/// the import path (Foundation's formatter is not).
public enum Timestamp {
    /// Seconds since 1970 of `ms` milliseconds, computed one way everywhere: a result's time in the
    /// store is the same double on the node that signed it and on every replica.
    public static func seconds(_ ms: Int64) -> Double { Double(ms) / 1000 }

    /// The text of `ms` milliseconds since 1970 (UTC).
    public static func iso(ms: Int64) -> String {
        let days = floorDiv(ms, 86_400_000)
        let inDay = ms - days * 86_400_000
        let (y, m, d) = civil(days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(inDay / 3_600_000, 2)):\(pad(inDay / 60_000 % 60, 2))"
            + ":\(pad(inDay / 1000 % 60, 2)).\(pad(inDay % 1000, 3))Z"
    }

    /// The text of a time to the second (`2026-12-02T12:00:00Z`), as ISO8601DateFormatter writes
    /// it by default; the fraction of a second is dropped.
    public static func iso(seconds: Double) -> String {
        let s = iso(ms: Int64((seconds * 1000).rounded(.down)))
        return String(s.prefix(19)) + "Z"
    }

    /// Milliseconds since 1970 of `YYYY-MM-DDTHH:MM:SS[.fff]Z`; nil for any other text.
    public static func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count == 20 || (b.count == 24 && b[19] == UInt8(ascii: ".")), b.last == UInt8(ascii: "Z"),
              b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":") else { return nil }
        func number(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10), let h = number(11..<13),
              let mi = number(14..<16), let sec = number(17..<19), let frac = b.count == 24 ? number(20..<23) : 0,
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 60 else { return nil }
        let days = daysFromCivil(y, mo, d)
        guard civil(days) == (y, mo, d) else { return nil } // 31 February and the like
        return ((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + frac
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
