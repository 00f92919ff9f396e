import SandlockCore

/// The manifest's scalar notations. Sizes, durations and times are `SandlockCore.Units`,
/// the same parsers as the `sandlock run` flags, so a value means the same in both places.
/// Each returns `nil` for text it does not accept; the decoder turns that into "expected …".
enum Quantities {
    /// `512M`, `1G`, `100K` (powers of 1024) or bytes.
    static func size(_ text: String) -> UInt64? { Units.parseSize(text) }

    /// `500ms`, `30s`, `5m`, `1h`, `2d`, or a number of seconds (`90`, `2.5`).
    static func duration(_ text: String) -> Duration? { Units.parseDuration(text) }

    /// RFC 3339 (`2000-01-01T00:00:00Z`) or Unix seconds; returns Unix seconds.
    static func timestamp(_ text: String) -> Int64? { Int64(text) ?? Units.parseTimestamp(text) }

    /// `"25%"` → 25.
    static func percent(_ text: String) -> Double? {
        guard text.hasSuffix("%"), let v = decimal(String(text.dropLast())), v <= 100 else { return nil }
        return v
    }

    /// Non-negative decimal without exponent or sign.
    static func decimal(_ text: String) -> Double? {
        guard !text.isEmpty, text.first != ".", text.last != ".",
              text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              text.filter({ $0 == "." }).count <= 1
        else { return nil }
        return Double(text)
    }
}
