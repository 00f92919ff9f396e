/// Parsers for the scalar notations of the manifest. Each returns `nil` for text it does
/// not accept; the decoder turns that into "expected a size like 512M, found …".
enum Quantities {
    /// `512M`, `1G`, `100K`, `1.5G`, `64MiB`, `2048` (bytes). Units are powers of 1024,
    /// as in `sandlock run -m`.
    static func size(_ text: String) -> UInt64? {
        let (number, unit) = splitNumber(text)
        guard let value = decimal(number) else { return nil }
        let multiplier: Double
        switch unit {
        case "", "B": multiplier = 1
        case "K", "k", "KB", "kB", "KiB", "Ki": multiplier = 1024
        case "M", "MB", "MiB", "Mi": multiplier = 1024 * 1024
        case "G", "GB", "GiB", "Gi": multiplier = 1024 * 1024 * 1024
        case "T", "TB", "TiB", "Ti": multiplier = 1024 * 1024 * 1024 * 1024
        default: return nil
        }
        let bytes = (value * multiplier).rounded()
        guard bytes < 1.8e19, unit != "" || !number.contains(".") else { return nil }
        return UInt64(bytes)
    }

    /// `500ms`, `30s`, `5m`, `1h`, `1h30m`, or a number of seconds (`90`, `2.5`).
    static func duration(_ text: String) -> Duration? {
        if let seconds = decimal(text) { return seconds < 1e12 ? .milliseconds(Int64((seconds * 1000).rounded())) : nil }
        var rest = Substring(text)
        var total: Double = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard let value = decimal(String(digits)) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return nil
            }
        }
        return total < 1e12 ? .milliseconds(Int64((total * 1000).rounded())) : nil
    }

    /// RFC 3339 (`2000-01-01T00:00:00Z`, `2000-01-01T02:00:00+02:00`), a date
    /// (`2000-01-01`, midnight UTC) or Unix seconds; returns Unix seconds.
    static func timestamp(_ text: String) -> Int64? {
        if let seconds = Int64(text) { return seconds }
        let c = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= c.count else { return nil }
            var v = 0
            for b in c[from..<from + count] {
                guard b >= 48, b <= 57 else { return nil }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        guard let year = num(0, 4), c.count >= 10, c[4] == 45, let month = num(5, 2), c[7] == 45,
              let day = num(8, 2), (1...12).contains(month), (1...daysIn(month, year)).contains(day)
        else { return nil }
        var seconds = daysFromCivil(year, month, day) * 86400
        if c.count == 10 { return seconds }
        guard c.count >= 20, c[10] == 84 || c[10] == 116 || c[10] == 32, let h = num(11, 2), c[13] == 58,
              let mi = num(14, 2), c[16] == 58, let s = num(17, 2), h < 24, mi < 60, s < 61
        else { return nil }
        seconds += Int64(h * 3600 + mi * 60 + s)
        var i = 19
        if c[i] == 46 {  // fraction, ignored: the clock starts at a whole second
            i += 1
            let start = i
            while i < c.count, c[i] >= 48, c[i] <= 57 { i += 1 }
            guard i > start else { return nil }
        }
        guard i < c.count else { return nil }
        if c[i] == 90 || c[i] == 122 { return i + 1 == c.count ? seconds : nil }
        guard c[i] == 43 || c[i] == 45, c.count == i + 6, let oh = num(i + 1, 2), c[i + 3] == 58, let om = num(i + 4, 2)
        else { return nil }
        let offset = Int64(oh * 3600 + om * 60)
        return c[i] == 43 ? seconds - offset : seconds + offset
    }

    /// `"25%"` → percent, `3` → a count.
    static func percent(_ text: String) -> Double? {
        guard text.hasSuffix("%"), let v = decimal(String(text.dropLast())), v <= 100 else { return nil }
        return v
    }

    private static func splitNumber(_ text: String) -> (String, String) {
        let number = text.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = text.dropFirst(number.count).drop { $0 == " " }
        return (String(number), String(unit))
    }

    /// Non-negative decimal without exponent or sign.
    static func decimal(_ text: String) -> Double? {
        guard !text.isEmpty, text.first != ".", text.last != ".",
              text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              text.filter({ $0 == "." }).count <= 1
        else { return nil }
        return Double(text)
    }

    private static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}

extension Duration {
    /// `1500ms`, `30s`, `5m`, `1h30m`: the shortest exact spelling, as the manifest accepts it.
    public var manifestText: String {
        let ms = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        if ms % 1000 != 0 { return "\(ms)ms" }
        var s = ms / 1000
        if s == 0 { return "0s" }
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 { out += "\(s)s" }
        return out
    }
}
