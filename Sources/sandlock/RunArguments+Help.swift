import SandlockCore

extension RunArguments {
    /// The examples and exit statuses of `sandlock run --help`, above the flags.
    static let overview = """
        Nothing is readable unless granted: give the trees the command needs with -r.
          sandlock run -r /usr -r /lib -r /lib64 -r /bin -r /etc -w /tmp -- ls /tmp
          sandlock run -r /usr -r /lib -r /lib64 -r /bin -t 30 -e 'make -j2'
          sandlock run -i -r /usr -r /lib -r /lib64 -r /bin -r /etc -w /tmp -- /bin/sh
        /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom are always
        usable. Exit status: the command's; 128+N if killed by signal N; 124 on
        timeout; 125 if the sandbox could not be set up (bad flags included).
        """

    /// One line per flag, grouped by `PolicySection`: `  -m, --max-memory SIZE   Memory …`.
    static var flagHelp: String {
        var rows: [(section: PolicySection, names: String, doc: String)] = []
        for field in Policy.fields where !field.flags.isEmpty {
            let names = field.flags.joined(separator: ", ") + (field.placeholder.map { " " + $0 } ?? "")
            rows.append((field.section, names, field.doc))
        }
        for extra in extras {
            rows.append((extra.section, extra.names.joined(separator: ", ") + (extra.valueName.map { " " + $0 } ?? ""), extra.doc))
        }
        let width = 26, indent = String(repeating: " ", count: width + 4)
        var out = ""
        for section in PolicySection.allCases {
            let members = rows.filter { $0.section == section }
            guard !members.isEmpty else { continue }
            out += "\n\(section.title):\n"
            for row in members {
                let lines = wrap(row.doc, width: 79 - indent.count)
                if row.names.count > width {
                    out += "  \(row.names)\n"
                } else {
                    out += "  \(row.names)\(String(repeating: " ", count: width - row.names.count))  \(lines[0])\n"
                }
                for line in lines.dropFirst(row.names.count > width ? 0 : 1) { out += indent + line + "\n" }
            }
        }
        return out
    }

    /// `sandlock run --help`.
    static var help: String {
        """
        OVERVIEW: Run a command in a sandbox.

        USAGE: sandlock run [flags] -- COMMAND [ARG…]
               sandlock run [flags] -e 'COMMAND LINE'

        \(overview)
        \(flagHelp)
          -h, --help                  Show this help.

        """
    }

    /// Words of `text` in lines of at most `width` characters.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        return lines + [line]
    }
}
