extension RunSummary {
    /// `--explain`: one line per stage, why it ran or was reused (and, for a map stage, how
    /// many shards ran and the first items that did).
    public var explanationText: String {
        var rows = [["STAGE", "CACHE", "WHY"]]
        for s in stages {
            guard let note = s.cache else {
                rows.append([s.stage, "-", s.reasonText])
                continue
            }
            rows.append([s.stage, note.outcome.rawValue, note.explanation + (note.notStored.map { "; not stored: \($0)" } ?? "")])
        }
        return Self.table(rows)
    }

    /// `812 cached, 188 ran` for the stages and shards of the run; nil when nothing was reused.
    public var cacheCounts: String? {
        var cached = 0, ran = 0
        for s in stages {
            if let shards = s.shards {
                cached += shards.cached
                ran += shards.succeeded + shards.failed - shards.cached
            } else if let note = s.cache {
                if note.outcome == .ran { ran += 1 } else { cached += 1 }
            }
        }
        return cached == 0 ? nil : "\(cached) cached, \(ran) ran"
    }
}
