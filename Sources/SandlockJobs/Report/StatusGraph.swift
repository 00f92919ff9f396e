/// `sandlock-jobs graph RUN`: the stage graph of a past run, each node coloured by how its
/// stage ended (a stage with no status did not end: the run was killed, or is running).
extension Plan {
    /// Fill and stroke of each status, shared by the Mermaid and dot graphs and the report.
    static func colours(of status: StageStatus?) -> (fill: String, stroke: String) {
        switch status {
        case .succeeded: ("#c8e6c9", "#2e7d32")
        case .failed: ("#ffcdd2", "#c62828")
        case .conflict: ("#ffe0b2", "#e65100")
        case .cancelled: ("#e0e0e0", "#616161")
        case .skipped: ("#f5f5f5", "#9e9e9e")
        case nil: ("#ffffff", "#9e9e9e")
        }
    }

    static func statusName(_ status: StageStatus?) -> String { status?.rawValue ?? "did not end" }

    /// Mermaid, with a class per status.
    public func mermaid(statuses: [String: StageStatus]) -> String {
        var out = mermaid
        var members: [String: [String]] = [:]
        for (i, s) in stages.enumerated() { members[Self.statusName(statuses[s.name]).replacingOccurrences(" ", "_"), default: []].append("s\(i)") }
        for (name, ids) in members.sorted(by: { $0.key < $1.key }) {
            let status = StageStatus(rawValue: name)
            let (fill, stroke) = Self.colours(of: status)
            out += "    classDef \(name) fill:\(fill),stroke:\(stroke),color:#000\n"
            out += "    class \(ids.joined(separator: ",")) \(name)\n"
        }
        return out
    }

    /// Graphviz dot, nodes filled by status, the status under each label.
    public func dot(statuses: [String: StageStatus]) -> String {
        var out = dot
        for s in stages {
            let status = statuses[s.name]
            let (fill, stroke) = Self.colours(of: status)
            out.insert(contentsOf: "    \(Self.dotQuoted(s.name)) [style=filled, fillcolor=\"\(fill)\", color=\"\(stroke)\", xlabel=\"\(Self.statusName(status))\"];\n",
                       at: out.index(out.endIndex, offsetBy: -2))
        }
        return out
    }
}
