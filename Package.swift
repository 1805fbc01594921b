// swift-tools-version: 6.1
// EdgeCell: an edge runtime for learned robot control. Module map and rules: docs/ARCHITECTURE.md.
import PackageDescription

/// C and C++ in release builds: -O2 comes from SwiftPM; SIMD paths are chosen at run time, never -march=native.
let cRelease: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra"])]
let cxxRelease: [CXXSetting] = [.unsafeFlags(["-Wall", "-Wextra"])]

let package = Package(
    name: "EdgeCell",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "edgecell", targets: ["edgecell"]),
        .executable(name: "edgecell-bench", targets: ["EdgeCellBench"]),
        .library(name: "CellRuntime", targets: ["CellRuntime"]),
        .library(name: "TwinProtocol", targets: ["TwinProtocol"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "DemandMetrics", targets: ["DemandMetrics"]),
        .library(name: "StrategyModel", targets: ["StrategyModel"]),
        .library(name: "Audit", targets: ["Audit"]),
        .library(name: "ModelSigning", targets: ["ModelSigning"]),
        .library(name: "LinkSecurity", targets: ["LinkSecurity"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // libzmq from Debian's libzmq3-dev; zmq.h sits in /usr/include, so no pkg-config (its .pc adds flags
        // SwiftPM refuses with a warning).
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CEigen3", pkgConfig: "eigen3", providers: [.apt(["libeigen3-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "ZeroMQ", dependencies: ["CZMQ"]),
        .target(name: "TwinProtocol"),
        .target(name: "DemandMetrics", dependencies: ["ZeroMQ"]),
        .target(name: "StrategyModel", dependencies: ["DemandMetrics"]),
        .target(name: "CKinematics", dependencies: ["CEigen3"], cxxSettings: cxxRelease),
        .target(name: "CRealtime", cSettings: cRelease),
        .target(
            name: "CPolicyKernel",
            // Optimised in debug builds too: tests and debug runs infer through it, and at -O0 it is ~50× slower.
            cSettings: cRelease + [.unsafeFlags(["-O2"], .when(configuration: .debug))],
            linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        .target(
            name: "Policy",
            dependencies: ["CPolicyKernel", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "Teach",
            dependencies: [
                "CellRuntime", "TwinProtocol", "CZlib", .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "Audit", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "ModelSigning", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "LinkSecurity", dependencies: ["ZeroMQ"]),
        .target(name: "Evaluation", dependencies: ["CellRuntime", "CZlib"]),
        // Test support: counts the calling thread's heap allocations (interposes malloc in the test binary).
        .target(name: "CAllocationCounter", path: "Tests/Support/CAllocationCounter"),
        .target(name: "CLITestSupport", path: "Tests/Support/CLITestSupport"),
        .target(
            name: "CellRuntime",
            dependencies: [
                "TwinProtocol", "ZeroMQ", "CKinematics", "CRealtime", "Policy", "DemandMetrics",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "edgecell",
            dependencies: [
                "CellRuntime", "TwinProtocol", "ZeroMQ", "Policy", "Teach", "Evaluation",
                "DemandMetrics", "StrategyModel", "Audit", "ModelSigning", "LinkSecurity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "EdgeCellBench",
            dependencies: [
                "CellRuntime", "TwinProtocol", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "TwinProtocolTests", dependencies: ["TwinProtocol"]),
        .testTarget(name: "CKinematicsTests", dependencies: ["CKinematics"]),
        .testTarget(
            name: "CellRuntimeTests",
            dependencies: ["CellRuntime", "TwinProtocol", "ZeroMQ", "Policy", "CAllocationCounter"]
        ),
        .testTarget(name: "CPolicyKernelTests", dependencies: ["CPolicyKernel", "CAllocationCounter"]),
        .testTarget(name: "TeachTests", dependencies: ["Teach", "CellRuntime", "TwinProtocol", "CLITestSupport"]),
        .testTarget(name: "DemandMetricsTests", dependencies: ["DemandMetrics", "ZeroMQ", "Policy", "ModelSigning"]),
        .testTarget(name: "StrategyModelTests", dependencies: ["StrategyModel", "DemandMetrics"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "CLITestSupport"]),
        .testTarget(name: "ModelSigningTests", dependencies: ["ModelSigning", "CLITestSupport"]),
        .testTarget(name: "LinkSecurityTests", dependencies: ["LinkSecurity", "ZeroMQ", "Audit", "CLITestSupport"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "CPolicyKernel", "CAllocationCounter"]),
    ],
    cLanguageStandard: .c11,
    cxxLanguageStandard: .cxx17
)
