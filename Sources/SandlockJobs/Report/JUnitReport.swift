/// JUnit XML of a run (`--junit FILE`): one test suite per stage, one test case per stage
/// and per shard; a failure's text is the reason and the tail of its stderr.
public enum JUnitReport {
    public static func render(_ summary: RunSummary) -> String {
        var suites = ""
        var totalTests = 0, totalFailures = 0, totalSkipped = 0
        for s in summary.stages {
            var cases = ""
            var tests = 0, failures = 0, skipped = 0
            func testcase(_ name: String, seconds: Double?, status: StageStatus, reason: String, log: String?) {
                tests += 1
                cases += "    <testcase classname=\"\(escape(summary.run.name + "." + s.stage))\" name=\"\(escape(name))\" time=\"\(seconds ?? 0)\""
                switch status {
                case .succeeded:
                    cases += "/>\n"
                case .skipped, .cancelled:
                    skipped += 1
                    // Reasons like "skipped: needed stage 'a' failed" already say what happened.
                    let message = reason.hasPrefix(status.rawValue) ? reason : status.rawValue + ": " + reason
                    cases += ">\n      <skipped message=\"\(escape(message))\"/>\n    </testcase>\n"
                case .failed, .conflict:
                    failures += 1
                    var text = reason + "\n"
                    if let log, let (_, path, tail) = summary.failureTail(log) {
                        text += tail.joined(separator: "\n") + "\n(full log: \(path))\n"
                    }
                    cases += ">\n      <failure message=\"\(escape(reason))\" type=\"\(escape(s.reason?.rawValue ?? status.rawValue))\">\(escape(text))</failure>\n    </testcase>\n"
                }
            }
            // A stage reused from the cache ran nothing: skipped, saying so (its shards too).
            let reused = s.status == .succeeded && s.cache?.outcome == .cached
            testcase(s.stage, seconds: s.durationSeconds, status: reused ? .skipped : s.status,
                     reason: reused ? s.cache?.explanation ?? "" : s.reasonText, log: summary.failedLogs(s).first?.1)
            if let shards = s.shards {
                var records = [ShardRecord?](repeating: nil, count: shards.total)
                for r in summary.directory.readShardRecords(s.stage) where r.shard >= 0 && r.shard < shards.total { records[r.shard] = r }
                for n in 0..<shards.total {
                    let name = "\(s.stage)/\(n)"
                    guard !reused, let shard = records[n], let last = shard.attempts.last else {
                        let why = records[n]?.cachedFrom.map { "cached (run \($0))" } ?? (reused ? "cached" : "did not run")
                        testcase(name, seconds: nil, status: .skipped, reason: why, log: nil)
                        continue
                    }
                    testcase(name, seconds: shard.attempts.reduce(0) { $0 + $1.durationSeconds }, status: shard.status,
                             reason: shard.status == .cancelled ? "interrupted (\(last.reasonText))" : last.reasonText,
                             log: summary.directory.relative(summary.directory.log(.stderr, of: s.stage, .shard(n))))
                }
            }
            totalTests += tests
            totalFailures += failures
            totalSkipped += skipped
            suites += "  <testsuite name=\"\(escape(summary.run.name + "." + s.stage))\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(s.durationSeconds ?? 0)\">\n"
            suites += cases + "  </testsuite>\n"
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
            "<testsuites name=\"\(escape(summary.run.name))\" tests=\"\(totalTests)\" failures=\"\(totalFailures)\" errors=\"0\" skipped=\"\(totalSkipped)\" time=\"\(summary.run.durationSeconds ?? 0)\">\n" +
            suites + "</testsuites>\n"
    }

    /// XML text: markup characters escaped, characters XML 1.0 forbids dropped.
    static func escape(_ s: String) -> String {
        s.escaping { u in
            switch u {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "\"": "&quot;"
            case "\n", "\t", "\r": nil
            case _ where u.value < 0x20 || u.value == 0xFFFE || u.value == 0xFFFF: ""
            default: nil
            }
        }
    }
}
