/// Parsers for the human units used by policies, flags and manifests.
public enum Units {
    /// `512M`, `1G`, `100K`, `2T` or plain bytes (binary multiples: 1K = 1024).
    public static func parseSize(_ text: String) -> UInt64? {
        let trimmed = text.trimmingSpaces()
        guard let last = trimmed.last else { return nil }
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(trimmed)
        var multiplier: UInt64 = 1
        if let unit = multipliers[Character(last.uppercased())] {
            multiplier = unit
            digits = digits.dropLast()
            if digits.last == "i" || digits.last == "B" { return nil }
        } else if last == "B" || last == "b" {
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let value = UInt64(digits) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// `500ms`, `30s`, `5m`, `1h`, `2d` or plain (possibly fractional) seconds.
    public static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingSpaces()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var number = Substring(trimmed)
        var scale = 1.0
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            scale = factor
            break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCIIDigit || $0 == "." }),
              let value = Double(number), value >= 0 else { return nil }
        let milliseconds = (value * scale * 1000).rounded()
        guard milliseconds < 1e15 else { return nil }
        return .milliseconds(Int64(milliseconds))
    }

    /// An RFC 3339 timestamp (`2000-01-01T00:00:00Z`, `…+02:00`, fractional seconds ignored)
    /// as Unix seconds.
    public static func parseTimestamp(_ text: String) -> Int64? {
        let bytes = Array(text.trimmingSpaces().utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        guard bytes.count >= 19, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84 || bytes[10] == 116 || bytes[10] == 32,
              bytes[13] == 58, bytes[16] == 58,
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= daysInMonth[Int(month) - 1] else { return nil }
        var index = 19
        if index < bytes.count, bytes[index] == 46 { // fractional seconds
            index += 1
            while index < bytes.count, bytes[index] >= 48 && bytes[index] <= 57 { index += 1 }
        }
        var offset: Int64 = 0
        if index < bytes.count, bytes[index] == 90 || bytes[index] == 122 { // Z
            index += 1
        } else if index + 6 <= bytes.count, bytes[index] == 43 || bytes[index] == 45, bytes[index + 3] == 58,
                  let hours = number(index + 1..<index + 3), let minutes = number(index + 4..<index + 6) {
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == 45 ? -1 : 1)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146097 + dayOfEra - 719468
        return days * 86400 + hour * 3600 + minute * 60 + second - offset
    }

    /// `8080`, `8080,9000-9005`: TCP ports.
    public static func parsePorts(_ text: String) -> [UInt16]? {
        var ports: [UInt16] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", maxSplits: 1).map { UInt16($0.trimmingSpaces()) }
            guard let low = bounds.first ?? nil else { return nil }
            let high = bounds.count == 2 ? bounds[1] : low
            guard let high, low >= 1, low <= high else { return nil }
            ports.append(contentsOf: low...high)
        }
        return ports.isEmpty ? nil : ports
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension Duration {
    /// `1500ms`, `30s`, `90m`, `2h`: the largest unit that spells the duration exactly,
    /// in a form the manifest and `sandlock run -t` accept.
    public var manifestText: String {
        let ms = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        for (unit, factor) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms >= factor && ms % factor == 0 {
            return "\(ms / factor)\(unit)"
        }
        return ms == 0 ? "0s" : "\(ms)ms"
    }
}

extension UInt64 {
    /// `256M`, `1G`, `1536K`, or bytes: the shortest exact spelling.
    public var sizeText: String {
        for (unit, factor) in [("T", UInt64(1) << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where self >= factor && self % factor == 0 {
            return "\(self / factor)\(unit)"
        }
        return "\(self)"
    }
}
