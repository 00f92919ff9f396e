#if canImport(Glibc)
import Glibc
#endif
import CSandlock

/// The sandbox's init, through its pidfd: readable once init has exited, which it does
/// after every process of its tree is gone and its report is written to the status pipe.
final class ProcessExit: EventSource {
    let descriptor: SharedDescriptor
    var interest: Epoll.Events { .readable }
    /// The read end of init's status pipe (one `csl_init_report`).
    private let status: SharedDescriptor
    private let session: SandboxSession

    init(pidfd: SharedDescriptor, status: SharedDescriptor, for session: SandboxSession) {
        descriptor = pidfd
        self.status = status
        self.session = session
    }

    func ready(_ events: Epoll.Events) -> EventLoop.Next {
        // Written before init exited: the read does not block.
        let report = status.descriptor.readRecord(csl_init_report.self)
        var code: Int32 = 0, wstatus: Int32 = 0
        _ = csl_pidfd_wait(descriptor.rawValue, 0, &code, &wstatus)
        session.exited(report: report)
        return .remove
    }
}
