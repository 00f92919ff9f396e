/// The version both CLIs print with `--version`.
public enum SandlockVersion {
    public static let current = "0.1.0"
}
