#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockSystem

/// JSON of the records: sorted keys, ISO 8601 times with milliseconds.
enum RecordCoding {
    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(utcText(date))
        }
        return encoder
    }

    static func encode<T: Encodable>(_ value: T, pretty: Bool = true) -> [UInt8] {
        // Records hold only strings, numbers and dates: encoding cannot fail.
        var bytes = (try? Array(encoder(pretty: pretty).encode(value))) ?? Array("{}".utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// `2026-11-29T20:23:33.042Z` from gmtime_r: Foundation's formatter looks the local
    /// time zone up (readlink /etc/localtime) on every call, which shows at 1,000 shards/s.
    static func utcText(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = time_t(since1970.rounded(.down))
        let milliseconds = min(999, Int(((since1970 - Double(seconds)) * 1000).rounded(.down)))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T" +
            "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(milliseconds, 3))Z"
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return try timeFormat.parse(text)
        }
        return decoder
    }

    static func decode<T: Decodable>(_ type: T.Type, path: String) throws(RunFileError) -> T {
        let bytes: [UInt8]
        do { bytes = try Files.read(path) } catch { throw .file(error) }
        do { return try decoder().decode(type, from: Data(bytes)) } catch {
            throw .notARecord(path: path)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, line: ArraySlice<UInt8>) -> T? {
        try? decoder().decode(type, from: Data(line))
    }
}
