// swift-tools-version:6.0
import PackageDescription

// The shared library exports only the header's names (version script, which
// also puts them in the version node MYSQLPOOL_0) and carries the Swift
// runtime inside (-static-stdlib), so ctypes.CDLL(path) works without
// LD_LIBRARY_PATH. Its SONAME is libmysqlpool.so.<POOL_VERSION_MAJOR of
// include/mysqlpool.h>: `make install` installs libmysqlpool.so.X.Y.Z with the
// libmysqlpool.so.0 and libmysqlpool.so links, and scripts/check/abi-check.sh checks
// that the SONAME and the version node match the header's major version.
let exportLinkerFlags: [String] = [
    "-static-stdlib", "-use-ld=lld",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/mysqlpool/exports.map",
    "-Xlinker", "-soname=libmysqlpool.so.0",
    // RELR: the ~16,000 relative relocations as a few KiB instead of 370,
    // which every process read in at load (glibc >= 2.36).
    "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
]

// Checkout is a handful of instructions: let the export layer specialize the
// generic pool for libmariadb (instead of resolving generic metadata per
// call) and skip dynamic exclusivity checks in release builds, where the
// pool's state is only touched under its mutex.
let coreSwiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"]),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "mysqlpool",
    products: [
        .library(name: "mysqlpool", type: .dynamic, targets: ["mysqlpool"]),
    ],
    targets: [
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"])]
        ),
        // Public header types for Swift, plus thread-local error storage.
        .target(name: "CMySQLPoolSupport"),
        // The pool: limits, waiting, lifetime, reset, stats. No C-ABI concerns.
        .target(
            name: "MySQLPoolCore",
            dependencies: ["CMariaDB"],
            swiftSettings: coreSwiftSettings
        ),
        // The thin @_cdecl layer: handles, argument conversion, status codes.
        .target(
            name: "mysqlpool",
            dependencies: ["MySQLPoolCore", "CMySQLPoolSupport", "CMariaDB"],
            exclude: ["exports.map"],
            swiftSettings: coreSwiftSettings,
            linkerSettings: [.unsafeFlags(exportLinkerFlags)]
        ),
        .testTarget(name: "MySQLPoolCoreTests", dependencies: ["MySQLPoolCore"]),
        .testTarget(name: "IntegrationTests", dependencies: ["MySQLPoolCore", "CMariaDB"]),
    ]
)
