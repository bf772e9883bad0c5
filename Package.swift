// swift-tools-version: 6.2
import PackageDescription

// Layout (see README "Code map"):
//   CMariaDB  — system library: libmariadb through pkg-config (Debian libmariadb-dev)
//   OctoTime  — instants, civil dates and their arithmetic (no database, no zones)
//   MariaDB   — the only target that touches the C API
//   CGuard    — the guard process that ties a job's process group to its supervisor
//   OctoCore  — the domain: configuration, schema, stores, schedules; no argument parsing
//   octo      — the executable: parses, calls OctoCore, prints
//   OctoWeb   — the dashboard (Hummingbird, Mustache templates in Sources/OctoWeb/Assets, accounts with scrypt)
//   octo-web  — the companion executable `octo web` and `octo sh user` start: the cron path links none of it
//
// octo and OctoCore import FoundationEssentials only (never full Foundation):
// cron starts octo on every machine every minute, and full Foundation with ICU
// costs several milliseconds of dynamic loading per start (see scripts/bench startup).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "octo",
    products: [
        .executable(name: "octo", targets: ["octo"]),
        .executable(name: "octo-web", targets: ["octo-web"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // the dashboard only (octo-web); no default traits: neither swift-configuration nor full Foundation is needed
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Hummingbird's own: the dashboard's live reader ends every stream on a graceful shutdown
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // Hummingbird's TLS (octo web --tls-cert/--tls-key)
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0")
    ],
    targets: [
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"])]
        ),
        .target(name: "OctoTime", swiftSettings: strict),
        .target(name: "MariaDB", dependencies: ["CMariaDB", "OctoTime"], swiftSettings: strict),
        // The guard process between octo and a job (fork, process group, parent death): C, because
        // only async-signal-safe calls may follow fork() and swift-subprocess 1.0 has no pre-exec hook.
        .target(name: "CGuard"),
        .target(name: "OctoCore", dependencies: ["MariaDB", "OctoTime", "CGuard"], swiftSettings: strict),
        .executableTarget(
            name: "octo",
            dependencies: [
                "OctoCore", "OctoTime",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OctoWeb",
            dependencies: [
                "OctoCore", "OctoTime", "MariaDB",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            exclude: ["Assets"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "octo-web",
            dependencies: [
                "OctoWeb", "OctoCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl")
            ],
            swiftSettings: strict
        ),
        // Benchmark driver for scripts/bench; not part of the product.
        .executableTarget(name: "octo-bench", dependencies: ["OctoCore", "OctoTime"], swiftSettings: strict),
        .target(
            name: "TestSupport",
            dependencies: [
                "MariaDB", "OctoCore", "OctoTime",
                .product(name: "Subprocess", package: "swift-subprocess")
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "MariaDBTests", dependencies: ["MariaDB", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "OctoCoreTests", dependencies: ["OctoCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "octoTests", dependencies: ["octo", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "OctoWebTests",
            dependencies: [
                "OctoWeb", "TestSupport", .product(name: "HummingbirdTesting", package: "hummingbird")
            ],
            swiftSettings: strict
        )
    ]
)
