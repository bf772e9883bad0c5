import OctoTime
import Testing

@testable import OctoCore

/// The fields `LogStore.load` sends to `LOAD DATA`, without a database.
struct LoadFormatTests {
    /// A time's text is made once per second and reused: each time of a sequence that repeats seconds, crosses
    /// them, goes back, and crosses the epoch from below (where the microseconds count up from a negative
    /// second) reads as `Instant` itself says it, whatever time came before it.
    @Test func timesReadAsTheirInstantsWhateverCameBefore() {
        let base = Instant(year: 2026, month: 12, day: 31, hour: 23, minute: 59, second: 59)!.microseconds
        let steps: [Int64] = [0, 1, 999_998, 999_999, 1_000_000, 1_000_001, 1_000_000, -1, 86_400_000_000, 0]
        var times = steps.map { Instant(microsecondsSinceEpoch: base + $0) }
        times += [-1_500_000, -1_000_001, -1_000_000, -999_999, -1, 0, 1, -1].map {
            Instant(microsecondsSinceEpoch: $0)
        }
        times += [
            Instant(year: 1000, month: 1, day: 1)!,
            Instant(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, microsecond: 999_999)!,
            Instant(year: 1000, month: 1, day: 1, microsecond: 7)!
        ]
        var text = LogStore.SecondText()
        for t in times {
            var buffer: [UInt8] = []
            text.append(t, to: &buffer)
            let expected = String(t.utc.iso8601(fractionDigits: 6).map { $0 == "T" ? " " : $0 })
            #expect(String(decoding: buffer, as: UTF8.self) == expected, "\(t.microseconds)")
        }
    }
}
