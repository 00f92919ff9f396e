import ArgumentParser
import SandlockCore
import SandlockJobs

/// Where a cache is: a manifest's workdir (`--in`), or `--cache-dir`.
struct CacheLocation: ParsableArguments {
    @Option(name: .customLong("in"), help: ArgumentHelp("A manifest or a workdir (default: the current directory).", valueName: "PLACE"))
    var place: String = "."

    @Option(help: ArgumentHelp("The cache store (default: <workdir>/.sandlock-jobs/cache).", valueName: "DIR"))
    var cacheDir: String?

    func open() throws -> CacheMaintenance {
        let workdir = isDirectory(place) ? place : try loadPlan(place).workdir
        guard let cache = CacheMaintenance(workdir: workdir, directory: cacheDir) else {
            throw fail("no cache in \(cacheDir ?? workdir + "/.sandlock-jobs/cache")", Exit.missingFile)
        }
        return cache
    }
}

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List or prune the content-addressed cache of incremental runs.",
        subcommands: [CacheListCommand.self, CachePruneCommand.self]
    )
}

struct CacheListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Per stage: stored results and shards, the newest run that stored one; then the totals."
    )

    @OptionGroup var location: CacheLocation

    func run() throws {
        print(try location.open().list(), terminator: "")
    }
}

struct CachePruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove old entries, then every object no entry refers to.",
        discussion: """
            Without options only unreadable entries and unreferenced objects go. Objects \
            younger than an hour are kept (a running job may not have written their entry yet).

            Examples:
              sandlock-jobs cache prune --older-than 30d --in jobs/wordcount.yaml
              sandlock-jobs cache prune --keep-runs 3
            """
    )

    @OptionGroup var location: CacheLocation

    @Option(help: ArgumentHelp("Remove entries stored longer ago than this (`30d`, `12h`).", valueName: "DURATION"))
    var olderThan: String?

    @Option(help: ArgumentHelp("Keep only the entries of the N newest runs that stored any.", valueName: "N"))
    var keepRuns: Int?

    func run() throws {
        var age: Duration?
        if let olderThan {
            guard let parsed = Units.parseDuration(olderThan) else {
                throw fail("--older-than: '\(olderThan)' is not a duration (30d, 12h, 90m)", ExitCode.validationFailure)
            }
            age = parsed
        }
        if let keepRuns, keepRuns < 0 { throw fail("--keep-runs must be 0 or more", ExitCode.validationFailure) }
        let cache = try location.open()
        let pruned = cache.prune(olderThan: age, keepRuns: keepRuns)
        print("removed \(pruned.entries) entries and \(pruned.objects) objects (\(pruned.bytes) bytes) from \(cache.root)")
    }
}
