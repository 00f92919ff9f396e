// The job runner library: manifest → validation → plan → runner → run directory.
// Built up by the manifest and runner issues.
import SandlockCore
