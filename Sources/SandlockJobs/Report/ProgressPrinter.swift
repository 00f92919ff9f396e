#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import SandlockSystem
import Synchronization

/// Shows a run's progress on a standard stream (stderr): a live display redrawn in place on
/// a terminal, one line per event otherwise, or one JSON object per line.
public final class ProgressPrinter: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case tty, plain, json
    }

    private struct Running {
        var kind: String
        var started: Double
        var total: Int?
        var done = 0
        var failed = 0
    }

    private struct State {
        var start = 0.0
        var running: [(name: String, stage: Running)] = []
        var drawnLines = 0
        var lastDraw = 0.0
        var ended = [StageStatus: Int]()
        var failedShardsPrinted: [String: Int] = [:]
        var finished = false
    }

    public let mode: Mode
    private let stream: StandardStream
    private let color: Bool
    private let state = Mutex(State())

    /// `color` is off when `NO_COLOR` is set (any value) or in plain/json mode.
    public init(mode: Mode, stream: StandardStream = .error, environment: [String: String] = [:]) {
        self.mode = mode
        self.stream = stream
        color = mode == .tty && environment["NO_COLOR"].map(\.isEmpty) ?? true
        state.withLock { $0.start = Self.now() }
    }

    /// `auto`: the live display when `stream` is a terminal, else plain lines.
    public static func automatic(stream: StandardStream = .error) -> Mode { stream.isTerminal ? .tty : .plain }

    public func handle(_ event: RunEvent) {
        switch mode {
        case .json: json(event)
        case .plain: plain(event)
        case .tty: tty(event)
        }
    }

    /// Redraws the live display (elapsed times) until the run ends; call from a thread
    /// of its own.
    public func tick() {
        guard mode == .tty else { return }
        while true {
            usleep(250_000)
            let done = state.withLock { s -> Bool in
                if s.finished { return true }
                emit(redraw(&s))
                return false
            }
            if done { return }
        }
    }

    // MARK: Plain

    private func plain(_ event: RunEvent) {
        state.withLock { s in
            let stamp = "[\(Self.clock(Self.now() - s.start))]"
            switch event {
            case .runStarted(let run):
                emit("\(stamp) run \(run.id) '\(run.name)': \(run.stages.count) stage\(run.stages.count == 1 ? "" : "s"), \(run.jobs) job\(run.jobs == 1 ? "" : "s") at once\n")
            case .stageStarted(let stage, _, let shards):
                emit("\(stamp) start  \(stage)\(shards.map { " (\($0) shard\($0 == 1 ? "" : "s"))" } ?? "")\n")
            case .retrying(let stage, let shard, let attempt, let reason, let delay):
                emit("\(stamp) retry  \(stage)\(shard.map { "/\($0)" } ?? ""): \(reason); attempt \(attempt)\(delay > .zero ? " in \(RunSummary.seconds(delay.seconds))" : "")\n")
            case .shardEnded(let stage, let shard, let succeeded, let reason, let done, let failed, let total):
                if !succeeded, s.failedShardsPrinted[stage, default: 0] < RunnerLimits.failedShardsListed {
                    s.failedShardsPrinted[stage, default: 0] += 1
                    emit("\(stamp) FAIL   \(stage)/\(shard): \(reason)\n")
                }
                let step = max(1, total / 10)
                if done % step == 0 || done == total {
                    emit("\(stamp) shards \(stage): \(done)/\(total) done\(failed > 0 ? ", \(failed) failed" : "")\n")
                }
            case .stageEnded(let r):
                let word = switch r.status {
                case .succeeded: "ok    "
                case .failed: "FAILED"
                case .skipped: "skip  "
                case .cancelled: "cancel"
                case .conflict: "CONFLICT"
                }
                var line = "\(stamp) \(word) \(r.stage)"
                if let d = r.durationSeconds { line += " (\(RunSummary.seconds(d)))" }
                if r.status != .succeeded { line += ": \(r.reasonText)" }
                if let changes = r.changes, changes.isWorthShowing { line += "; changes: \(changes.countText), \(changes.outcomeText)" }
                emit(line + "\n")
            case .runEnded(let run):
                emit("\(stamp) run \(run.status.rawValue)\n")
            case .warning(let text):
                emit("\(stamp) warning: \(text)\n")
            }
        }
    }

    // MARK: JSON

    private func json(_ event: RunEvent) {
        var fields: [(String, JSONValue)] = []
        switch event {
        case .runStarted(let run):
            fields = [("event", .string("run_started")), ("run", .string(run.id)), ("run_directory", .string(run.runDirectory)),
                      ("stages", .array(run.stages.map { .string($0.name) }))]
        case .stageStarted(let stage, let kind, let shards):
            fields = [("event", .string("stage_started")), ("stage", .string(stage)), ("kind", .string(kind))]
            if let shards { fields.append(("shards", .int(Int64(shards)))) }
        case .retrying(let stage, let shard, let attempt, let reason, let delay):
            fields = [("event", .string("retrying")), ("stage", .string(stage)), ("shard", shard.map { .int(Int64($0)) } ?? .null),
                      ("attempt", .int(Int64(attempt))), ("reason", .string(reason)), ("delay_seconds", .double(delay.seconds))]
        case .shardEnded(let stage, let shard, let succeeded, let reason, let done, let failed, let total):
            fields = [("event", .string("shard_ended")), ("stage", .string(stage)), ("shard", .int(Int64(shard))),
                      ("status", .string(succeeded ? "succeeded" : "failed")), ("reason", .string(reason)),
                      ("done", .int(Int64(done))), ("failed", .int(Int64(failed))), ("total", .int(Int64(total)))]
        case .stageEnded(let r):
            fields = [("event", .string("stage_ended")), ("stage", .string(r.stage)), ("status", .string(r.status.rawValue)),
                      ("reason", r.reason.map { .string($0.rawValue) } ?? .null), ("message", .string(r.reasonText)),
                      ("duration_seconds", r.durationSeconds.map(JSONValue.double) ?? .null)]
            if let c = r.changes {
                fields.append(("changes", .object([
                    ("outcome", .string(c.outcome.rawValue)), ("added", .int(Int64(c.added))), ("modified", .int(Int64(c.modified))),
                    ("deleted", .int(Int64(c.deleted))), ("renamed", .int(Int64(c.renamed))),
                ])))
            }
        case .runEnded(let run):
            fields = [("event", .string("run_ended")), ("run", .string(run.id)), ("status", .string(run.status.rawValue))]
        case .warning(let text):
            fields = [("event", .string("warning")), ("message", .string(text))]
        }
        let line = JSONValue.object(fields).compact + "\n"
        state.withLock { _ in emit(line) }
    }

    // MARK: Terminal

    private func tty(_ event: RunEvent) {
        state.withLock { s in
            switch event {
            case .runStarted(let run):
                emit("\(paint("run", 1)) \(run.id) '\(run.name)' — \(run.stages.count) stages, \(run.jobs) at once\n")
            case .stageStarted(let stage, let kind, let shards):
                if let i = s.running.firstIndex(where: { $0.name == stage }) {
                    s.running[i].stage.total = shards
                } else {
                    s.running.append((stage, Running(kind: kind, started: Self.now(), total: shards)))
                }
                emit(redraw(&s))
            case .retrying(let stage, let shard, let attempt, let reason, _):
                emit(clear(&s) + "  \(paint("↻", 33)) \(stage)\(shard.map { "/\($0)" } ?? ""): \(reason); attempt \(attempt)\n" + draw(&s))
            case .shardEnded(let stage, _, _, _, let done, let failed, _):
                if let i = s.running.firstIndex(where: { $0.name == stage }) {
                    s.running[i].stage.done = done
                    s.running[i].stage.failed = failed
                }
                if Self.now() - s.lastDraw > 0.1 { emit(redraw(&s)) }
            case .stageEnded(let r):
                s.running.removeAll { $0.name == r.stage }
                s.ended[r.status, default: 0] += 1
                let (mark, code) = switch r.status {
                case .succeeded: ("✓", 32)
                case .failed: ("✗", 31)
                case .skipped: ("-", 2)
                case .cancelled: ("⊘", 33)
                case .conflict: ("≠", 31)
                }
                var line = "\(paint(mark, code)) \(r.stage)"
                if let d = r.durationSeconds { line += "  \(RunSummary.seconds(d))" }
                if let shards = r.shards { line += "  \(shards.succeeded)/\(shards.total) shards" }
                if let changes = r.changes, changes.isWorthShowing { line += "  \(changes.countText) (\(changes.outcomeText))" }
                if r.status != .succeeded { line += "  \(paint(RunSummary.clip(r.reasonText, 80), code))" }
                emit(clear(&s) + line + "\n" + draw(&s))
            case .runEnded:
                s.finished = true
                emit(clear(&s))
            case .warning(let text):
                emit(clear(&s) + paint("warning: \(text)", 33) + "\n" + draw(&s))
            }
        }
    }

    private func clear(_ s: inout State) -> String {
        defer { s.drawnLines = 0 }
        return s.drawnLines == 0 ? "" : "\u{1B}[\(s.drawnLines)F\u{1B}[J"
    }

    private func draw(_ s: inout State) -> String {
        guard !s.finished else { return "" }
        let now = Self.now()
        var lines: [String] = []
        for (name, r) in s.running {
            var line = "  \(paint("▶", 36)) \(name)"
            if let total = r.total {
                line += "  \(r.done)/\(total) shards"
                if r.failed > 0 { line += ", \(paint("\(r.failed) failed", 31))" }
                if let pace = Self.pace(done: r.done, total: total, elapsed: now - r.started) { line += "  \(pace)" }
            }
            line += "  \(Self.clock(now - r.started))"
            lines.append(line)
        }
        let counts = "\(s.ended[.succeeded, default: 0]) done, \(s.running.count) running, \(s.ended[.failed, default: 0]) failed"
        lines.append(paint("  elapsed \(Self.clock(now - s.start)) — \(counts)", 2))
        s.drawnLines = lines.count
        s.lastDraw = now
        return lines.map { $0 + "\n" }.joined()
    }

    private func redraw(_ s: inout State) -> String { clear(&s) + draw(&s) }

    private func paint(_ text: String, _ code: Int) -> String {
        color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// Progress that cannot be written (stderr closed) is dropped.
    private func emit(_ text: String) {
        guard !text.isEmpty else { return }
        try? stream.writeAll(text)
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// A fan-out's shard rate and the time left at that rate (`3.5/s, ETA 12.0s`); nil
    /// before the first shard ends and after the last.
    static func pace(done: Int, total: Int, elapsed: Double) -> String? {
        guard done > 0, done < total, elapsed > 0 else { return nil }
        let rate = Double(done) / elapsed
        let shown = rate >= 10 ? "\(Int(rate.rounded()))" : "\(Double(Int(rate * 10)) / 10)"
        return "\(shown)/s, ETA \(clock(Double(total - done) / rate))"
    }

    /// `12.3s` / `2m05s`.
    static func clock(_ s: Double) -> String {
        s < 60 ? "\(Double(Int(s * 10)) / 10)s" : RunSummary.seconds(s)
    }
}

extension JSONValue {
    /// On one line, for JSON Lines output.
    var compact: String {
        switch self {
        case .array(let items): return "[" + items.map(\.compact).joined(separator: ",") + "]"
        case .object(let pairs):
            return "{" + pairs.map { k, v in
                var key = ""
                JSONValue.quote(k, into: &key)
                return key + ":" + v.compact
            }.joined(separator: ",") + "}"
        default:
            var s = rendered()
            s.removeLast()
            return s
        }
    }
}
