import Foundation

/// A tree with something for every kind of change, under `<directory>/tree`; the storage
/// for workspaces sits next to it.
public func makeWorkspaceTree(in directory: String) throws -> (tree: String, storage: String) {
    let tree = directory + "/tree"
    try TreeSnapshot.write([
        "gone.txt": "delete me\n", "old-name.txt": "rename me\n", "dir-a/one.txt": "one\n",
        "dir-a/two/three.txt": "three\n", "nested/a/b/c/deep.txt": "deep\n", "nested/a/x.txt": "x\n",
        "nested/y.txt": "y\n", "mode.txt": "mode\n", "target.txt": "target\n", "truncate.txt": "long contents\n",
        "excl.txt": "old\n", "modify.txt": "line 1\nline 2\n", "untouched.txt": "same\n", "sub/keep.txt": "keep\n",
    ], under: tree)
    return (tree, directory + "/storage")
}

/// Deletes, renames a file and a directory, `rm -r`s a nested tree, chmods, symlinks,
/// truncates, creates with O_EXCL after unlink, and execs a script it just wrote.
public let workspaceWorkload = """
    set -e
    rm gone.txt
    mv old-name.txt new-name.txt
    mv dir-a dir-b
    rm -r nested
    chmod 600 mode.txt
    ln -s target.txt link
    : > truncate.txt
    rm excl.txt
    "$PROBE" create excl.txt
    printf '#!/bin/sh\\necho script-ran\\n' > run.sh
    chmod +x run.sh
    ./run.sh > ran.txt
    echo "line 3" >> modify.txt
    mkdir -p brand/new
    echo fresh > brand/new/file.txt
    """

/// Waits (up to 20 s) for a sandbox to create `path`, its "I have written my version" marker.
public func waitUntilExists(_ path: String) async throws {
    for _ in 0..<1000 where !FileManager.default.fileExists(atPath: path) { try await Task.sleep(for: .milliseconds(20)) }
}
