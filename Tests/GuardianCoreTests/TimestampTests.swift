import Foundation
import GuardianCore
import Testing

/// The report's times are written without Foundation's ISO formatter (it loads ICU's calendars on
/// first use); the text must stay what that formatter writes.
@Suite struct TimestampTests {
    @Test func secondsTextIsWhatISO8601DateFormatterWrites() {
        let formatter = ISO8601DateFormatter()
        let times: [Double] = [0, 59.999, 951_782_400.5, 1_709_164_799.001, 1_764_806_400, 4_102_444_799.9, 1_234_567_890.123]
        for t in times {
            #expect(Timestamp.iso(seconds: t) == formatter.string(from: Date(timeIntervalSince1970: t)), "\(t)")
        }
    }

    @Test func millisecondsTextRoundTrips() {
        for ms: Int64 in [0, 1, 999, 86_399_999, 1_764_806_400_123] {
            #expect(Timestamp.parse(Timestamp.iso(ms: ms)) == ms)
        }
    }
}
