// swift-tools-version: 6.2
import PackageDescription

// SANDLOCK_WERROR=1 (CI: .ci/run, and Scripts/test.sh when CI=true) turns every warning of
// this package's own targets into an error; dependencies keep their own settings. Local
// builds only warn, so work in progress is not blocked.
let warningsAreErrors = Context.environment["SANDLOCK_WERROR"] == "1"

// Every Swift target builds in Swift 6 language mode with strict concurrency.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
] + (warningsAreErrors ? [.treatAllWarnings(as: .error)] : [])

// C targets: -Werror under SANDLOCK_WERROR=1.
let cWarnings: [CSetting] = warningsAreErrors ? [.treatAllWarnings(as: .error)] : []

let package = Package(
    name: "sandlock-jobs",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SandlockCore", targets: ["SandlockCore"]),
        .library(name: "SandlockJobs", targets: ["SandlockJobs"]),
        // The C ABI (include/sandlock.h, libSandlockC.so), for the Python package (python/) and other languages.
        .library(name: "SandlockC", type: .dynamic, targets: ["SandlockC"]),
        .executable(name: "sandlock", targets: ["sandlock"]),
        .executable(name: "sandlock-jobs", targets: ["sandlock-jobs"]),
        .executable(name: "sandlock-http-proxy", targets: ["sandlock-http-proxy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Raw syscalls Swift cannot call, kernel structs newer than the distro headers,
        // and the post-fork child. Every symbol is `csl_…`.
        .target(
            name: "CSandlock",
            cSettings: [.define("_GNU_SOURCE")] + cWarnings
        ),
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        .systemLibrary(
            name: "CLibYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // The system layer: owned descriptors, pipes, epoll, the EINTR policy, atomic files,
        // directory listings, named threads and the signal thread. No other module wraps a
        // syscall by hand.
        .target(
            name: "SandlockSystem",
            dependencies: ["CSandlock"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SandlockCore",
            dependencies: ["CSandlock", "CSeccomp", "SandlockSystem"],
            swiftSettings: swiftSettings
        ),
        // The C ABI of include/sandlock.h: @_cdecl functions over opaque handles.
        .target(
            name: "SandlockC",
            dependencies: ["SandlockCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SandlockJobs",
            dependencies: ["SandlockCore", "CLibYAML"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sandlock",
            dependencies: [
                "SandlockCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sandlock-jobs",
            dependencies: [
                "SandlockCore", "SandlockJobs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // TLS of the HTTP proxy over the system's OpenSSL (apt libssl-dev): the user's CA,
        // leaf certificates minted per name, sessions on a socket. Only the proxy links it.
        .target(
            name: "CSandlockTLS",
            cSettings: cWarnings,
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // The HTTP ACL proxy (and HTTPS interception), its own process, started by the
        // supervisor only for a policy with HTTP rules.
        .executableTarget(
            name: "sandlock-http-proxy",
            dependencies: ["SandlockCore", "CSandlockTLS"],
            swiftSettings: swiftSettings
        ),
        // In-process start-up benchmark (Scripts/bench/startup.sh).
        .executableTarget(
            name: "sandlock-bench",
            dependencies: ["SandlockCore"],
            path: "Scripts/bench/inprocess",
            swiftSettings: swiftSettings
        ),
        // A C program the tests run inside sandboxes: it performs one action and prints
        // "ok" or the errno name.
        .executableTarget(name: "sandlock-test-probe", path: "Tests/Probe", cSettings: cWarnings),
        // Paths of the built binaries, temp directories, the base policy of the tests.
        .target(
            name: "SandlockTestSupport",
            dependencies: ["SandlockCore", "CSandlock"],
            path: "Tests/Support",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SandlockCoreTests",
            dependencies: ["SandlockCore", "SandlockTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SandlockJobsTests",
            dependencies: ["SandlockJobs", "SandlockTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPProxyTests",
            dependencies: ["SandlockCore", "SandlockTestSupport", "sandlock", "sandlock-http-proxy"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["SandlockCore", "SandlockTestSupport", "sandlock"],
            swiftSettings: swiftSettings
        ),
    ]
)
