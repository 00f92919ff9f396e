import Foundation
import SandlockCore
import SandlockTestSupport
import Testing

/// sandlock's TOML profiles: `sandlock profile list|show|delete`, `sandlock run -p NAME` with
/// flags on top, `--profile-file`, and what a broken profile says.
@Suite("sandlock CLI: profiles", Fixture.needs(Requirement.sandbox + [.seccompUserNotification]))
struct ProfileCLITests {
    /// A config home of its own (XDG_CONFIG_HOME is passed to the child, never set here).
    struct Home {
        let directory: String
        var profiles: String { directory + "/sandlock/profiles" }

        init() throws {
            var template = Array("/tmp/sandlock-profiles-XXXXXX".utf8CString)
            directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
            try FileManager.default.createDirectory(atPath: directory + "/sandlock/profiles", withIntermediateDirectories: true)
        }

        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: profiles + "/" + name + ".toml", atomically: true, encoding: .utf8)
        }

        func sandlock(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try Fixture.runBare([Fixture.sandlockCLI] + arguments,
                                environment: ["XDG_CONFIG_HOME": directory, "PATH": "/usr/bin:/bin", "HOME": directory, "CALLER_ONLY": "leaked"])
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    static let system = "fs_readable = [" + Fixture.readablePaths.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"

    @Test("run -p NAME: the profile's grants, limits and [env] apply; flags extend its lists and override its scalars")
    func runWithProfile() throws {
        let home = try Home()
        defer { home.remove() }
        let data = home.directory + "/data", extra = home.directory + "/extra"
        for tree in [data, extra] { try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true) }
        try "secret\n".write(toFile: extra + "/file", atomically: true, encoding: .utf8)
        try home.write("build", Self.system + """
            fs_writable = ["\(data)"]
            cwd = "\(data)"
            clean_env = true

            [env]
            GREETING = "from the profile"
            "WITH SPACE" = "x"
            """)
        // The profile's write grant and [env] hold; clean_env removed the caller's other variables.
        let run = try home.sandlock(["run", "-p", "build", "--", "/bin/sh", "-c", "echo $GREETING > \(data)/out; echo ${CALLER_ONLY:-none}; cat \(data)/out"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "none\nfrom the profile\n", "\(run.stdout)")
        // Without a grant for extra/, reading it fails; -r given *before* -p still extends the profile's list.
        let denied = try home.sandlock(["run", "-p", "build", "--", "/bin/cat", extra + "/file"])
        #expect(denied.status != 0 && denied.stdout.isEmpty)
        let extended = try home.sandlock(["run", "-r", extra, "-p", "build", "--", "/bin/cat", extra + "/file"])
        #expect(extended.status == 0 && extended.stdout == "secret\n", "\(extended.stderr)")
        // A scalar flag overrides the profile's value, wherever it is given.
        let inProfile = try home.sandlock(["run", "-p", "build", "--", "/bin/pwd"])
        #expect(inProfile.stdout == data + "\n", "\(inProfile.stderr)")
        let overridden = try home.sandlock(["run", "--cwd", extra, "-r", extra, "-p", "build", "--", "/bin/pwd"])
        #expect(overridden.stdout == extra + "\n", "\(overridden.stderr)")
        // --profile-file reads any path, and one profile at most is given.
        let file = try home.sandlock(["run", "--profile-file", home.profiles + "/build.toml", "--", "/bin/sh", "-c", "echo $GREETING"])
        #expect(file.status == 0 && file.stdout == "from the profile\n", "\(file.stderr)")
        let two = try home.sandlock(["run", "-p", "build", "--profile-file", home.profiles + "/build.toml", "--", "/bin/true"])
        #expect(two.status == 125 && two.stderr.contains("give one profile"), "\(two.stderr)")
    }

    @Test("profile list, show (TOML that reads back the same, and --json), delete")
    func listShowDelete() throws {
        let home = try Home()
        defer { home.remove() }
        let empty = try home.sandlock(["profile", "list"])
        #expect(empty.status == 0 && empty.stdout.contains("no profiles in \(home.profiles)"))
        try home.write("web", Self.system + """
            net_allow = ["localhost:8080"]
            max_memory = "512M"
            timeout = "5m"
            cpu_cores = [0]
            on_exit = "keep"
            no_coredump = true

            [env]
            LANG = "C.UTF-8"
            """)
        let list = try home.sandlock(["profile", "list"])
        #expect(list.status == 0)
        #expect(list.stdout.hasPrefix("web\t\(home.profiles)/web.toml\t"), "\(list.stdout)")
        #expect(list.stdout.contains("max_memory 512M") && list.stdout.contains("net_allow localhost:8080"), "\(list.stdout)")

        let show = try home.sandlock(["profile", "show", "web"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("max_memory = \"512M\"\n") && show.stdout.contains("timeout = \"5m\"\n")
                && show.stdout.contains("cpu_cores = [0]\n") && show.stdout.contains("[env]\nLANG = \"C.UTF-8\"\n"), "\(show.stdout)")
        // What show prints is itself a profile, and it reads back as the same policy.
        try home.write("copy", show.stdout)
        let original = try home.sandlock(["profile", "show", "web", "--json"])
        let copy = try home.sandlock(["profile", "show", "copy", "--json"])
        #expect(original.status == 0 && original.stdout.contains("\"max_memory\" : 536870912"), "\(original.stdout)")
        #expect(copy.stdout == original.stdout)

        let deleted = try home.sandlock(["profile", "delete", "copy"])
        #expect(deleted.status == 0 && !FileManager.default.fileExists(atPath: home.profiles + "/copy.toml"))
        let again = try home.sandlock(["profile", "delete", "copy"])
        #expect(again.status == 1 && again.stderr.contains("no profile 'copy'"), "\(again.stderr)")
        // A name never leads out of the profiles directory.
        try "keep".write(toFile: home.directory + "/sandlock/outside.toml", atomically: true, encoding: .utf8)
        let escape = try home.sandlock(["profile", "delete", "../outside"])
        #expect(escape.status == 1 && escape.stderr.contains("not a profile name"))
        #expect(FileManager.default.fileExists(atPath: home.directory + "/sandlock/outside.toml"))
    }

    @Test("a broken profile: line:col, 'did you mean', the wrong type or value named; nothing runs")
    func brokenProfiles() throws {
        let home = try Home()
        defer { home.remove() }
        let marker = home.directory + "/ran"
        let cases: [(text: String, error: String)] = [
            (Self.system + "max_memroy = \"1G\"\n", "build.toml:2:1: unknown key 'max_memroy' (did you mean 'max_memory'?)"),
            (Self.system + "  max_processes = \"many\"\n", "build.toml:2:19: max_processes: expected a positive number, found 'many'"),
            (Self.system + "fs_writable = \"/tmp\"\n", "build.toml:2:15: fs_writable: expected a list like [\"…\"], found a TOML string"),
            (Self.system + "clean_env = 1\n", "build.toml:2:13: clean_env: expected true or false, found a TOML integer"),
            (Self.system + "max_cpu = 150\n", "build.toml:2:11: max_cpu: "),
            (Self.system + "env = [\n", "build.toml:3:1: not valid TOML"),
        ]
        for (text, error) in cases {
            try home.write("build", text)
            let run = try home.sandlock(["run", "-p", "build", "--", "/bin/sh", "-c", "touch \(marker)"])
            #expect(run.status == 125 && run.stderr.contains(error), "\(text): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
        let missing = try home.sandlock(["run", "-p", "biuld", "--", "/bin/true"])
        #expect(missing.status == 125 && missing.stderr.contains("no profile 'biuld'") && missing.stderr.contains("did you mean 'build'?"), "\(missing.stderr)")
    }
}
