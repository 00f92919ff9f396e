import SandlockSystem

/// Left only for `sandlock-jobs`' SignalWatcher, which is moving to `SignalThread` in
/// another branch; everything else starts `NamedThread`s. Delete this file with that change.
public enum DetachedThread {
    /// `NamedThread.start("sandlock-jobs", body)`.
    @discardableResult
    public static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        NamedThread.start("sandlock-jobs", body)
    }
}
