// The system layer's types (Errno, FileDescriptor, SharedDescriptor, …) are part of the
// engine's API: whoever imports SandlockCore has them.
@_exported import SandlockSystem
