import Testing
import SandlockCore
@testable import SandlockJobs

@Suite struct QuantityTests {
    /// The manifest uses SandlockCore.Units, as `sandlock run` does; these pin the notations
    /// docs/manifest.md promises.
    @Test func sizes() {
        #expect(Quantities.size("512M") == 512 << 20)
        #expect(Quantities.size("1G") == 1 << 30)
        #expect(Quantities.size("100K") == 100 << 10)
        #expect(Quantities.size("4096") == 4096)
        for bad in ["lots", "", "-1M", "1.5", "12 parsecs", "1X", "M"] { #expect(Quantities.size(bad) == nil, "\(bad)") }
    }

    @Test func durations() {
        #expect(Quantities.duration("500ms") == .milliseconds(500))
        #expect(Quantities.duration("30s") == .seconds(30))
        #expect(Quantities.duration("5m") == .seconds(300))
        #expect(Quantities.duration("1h") == .seconds(3600))
        #expect(Quantities.duration("90") == .seconds(90))
        #expect(Quantities.duration("2.5") == .milliseconds(2500))
        for bad in ["soon", "", "-5s", "10 minutes", "5x", "s"] { #expect(Quantities.duration(bad) == nil, "\(bad)") }
        #expect(Duration.seconds(5400).manifestText == "90m")
        #expect(Duration.seconds(7200).manifestText == "2h")
        #expect(Duration.milliseconds(1500).manifestText == "1500ms")
        for d in [Duration.seconds(5400), .milliseconds(1500), .seconds(86400), .zero] {
            #expect(Quantities.duration(d.manifestText) == d, "\(d.manifestText) reads back")
        }
    }

    @Test func timestamps() {
        #expect(Quantities.timestamp("2000-01-01T00:00:00Z") == 946_684_800)
        #expect(Quantities.timestamp("2000-01-01T02:00:00+02:00") == 946_684_800)
        #expect(Quantities.timestamp("2024-02-29T12:00:00Z") == 1_709_208_000)
        #expect(Quantities.timestamp("946684800") == 946_684_800)
        for bad in ["2000-13-01T00:00:00Z", "2000-01-01T25:00:00Z", "yesterday", "2000-01-01T00:00:00"] {
            #expect(Quantities.timestamp(bad) == nil, "\(bad)")
        }
    }

    @Test func didYouMean() {
        #expect(closestMatch(to: "neds", in: ManifestVocabulary.stage) == "needs")
        #expect(closestMatch(to: "raed", in: ManifestVocabulary.filesystem) == "read")
        #expect(closestMatch(to: "zzzzzz", in: ManifestVocabulary.stage) == nil)
    }
}
