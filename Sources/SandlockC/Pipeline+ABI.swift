import SandlockCore

/// Starts the stages joined by pipes; the pipe ends are dropped when this returns, so each
/// pipe is held only by its two sandboxes and EOF propagates. A stage that cannot start
/// ends the ones already started.
private func startPipeline(_ stages: [(Policy, [String])], input first: InputSource) throws(Failure) -> [ProcessHandle] {
    var started: [ProcessHandle] = []
    var input = first
    for (index, (policy, argv)) in stages.enumerated() {
        var output: OutputTarget = .capture
        var next: InputSource = .null
        do throws(Failure) {
            if index < stages.count - 1 {
                let pipe: (read: SharedDescriptor, write: SharedDescriptor)
                do throws(SandboxError) { pipe = try SharedDescriptor.pipe() } catch { throw Failure(error) }
                output = .descriptor(pipe.write)
                next = .descriptor(pipe.read)
            }
            started.append(try spawn(policy, argv, io: StandardIO(stdin: input, stdout: output, stderr: .capture)))
        } catch {
            for stage in started { stage.finish() }
            throw Failure(error.status, "pipeline stage \(index) (\(argv[0])): \(error.message)")
        }
        input = next
    }
    return started
}

@_cdecl("sandlock_pipeline")
public func sandlockPipeline(_ count: Int, _ policies: UnsafePointer<UnsafeRawPointer?>?,
                             _ argvs: UnsafePointer<UnsafePointer<UnsafePointer<CChar>?>?>?,
                             _ bytes: UnsafePointer<UInt8>?, _ length: Int,
                             _ results: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ error: ErrorOut) -> Int32 {
    reporting(error) { () throws(Failure) in
        guard count > 0, let policies, let argvs, let results else {
            throw Failure(.argument, "sandlock_pipeline: needs at least one stage, its policies, commands and a results array")
        }
        var stages: [(Policy, [String])] = []
        for index in 0..<count {
            let name = "sandlock_pipeline stage \(index)"
            stages.append((try policy(policies[index], name), try command(argvs[index], name)))
        }
        let started = try startPipeline(stages, input: input(bytes, length))
        for (index, stage) in started.enumerated() {
            results[index] = handle(ResultHandle(stage.wait()))
        }
    }
}
