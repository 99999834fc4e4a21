// swift-tools-version:6.0
import PackageDescription

/// Release builds skip exclusivity checks in the numeric kernels; everything else keeps Swift's defaults.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Mneme",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mneme", targets: ["mneme"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // System libraries: module maps only.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),

        // bf16 matrix products through oneDNN (Debian's libdnnl-dev), where the CPU has AVX512-BF16 or AMX.
        .target(name: "CDNNLKernels", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("dnnl")]),
        // Lane-wise kernels with an AVX2 path chosen at run time (Swift compiles for baseline x86-64).
        .target(name: "CVectorKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // glibc's heap statistics and trim (FreedMemory).
        .target(name: "CHeap"),
        .target(name: "Tensor", dependencies: ["CBLAS", "CDNNLKernels", "CVectorKernels", "CHeap", .product(name: "Logging", package: "swift-log")],
                swiftSettings: fastMath),
        .target(name: "ModelIO", dependencies: ["Tensor"], swiftSettings: fastMath),
        .target(name: "Tokenizer"),
        // setjmp-based wrappers over libjpeg/libpng (their error exits longjmp, which Swift cannot).
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "Imaging", dependencies: ["CImageCodecs", "CJPEG", "CPNG", "Tensor"], swiftSettings: fastMath),
        .target(name: "LLaVA", dependencies: ["Tensor", "ModelIO", "Tokenizer", "Imaging",
                                              .product(name: "Logging", package: "swift-log")],
                swiftSettings: fastMath),
        .target(name: "Datasets", dependencies: ["Imaging", "Tensor"]),
        .target(name: "ShapesWorld", dependencies: ["Imaging", "Datasets", "Tensor"]),
        .target(name: "Store", dependencies: ["Datasets", "ModelIO", "Tensor", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Continual", dependencies: ["LLaVA", "ModelIO", "Datasets", "Imaging", "Tensor", "Tokenizer"], swiftSettings: fastMath),
        .target(name: "HTTP", dependencies: ["CMicroHTTPD", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Server", dependencies: [
            "HTTP", "LLaVA", "Continual", "Store", "Datasets", "Imaging", "Tokenizer",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "mneme", dependencies: [
            "Tensor", "ModelIO", "Tokenizer", "Imaging", "LLaVA", "Datasets", "ShapesWorld", "Store", "HTTP", "Continual", "Server",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: fastMath),

        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ModelIOTests", dependencies: ["ModelIO"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "LLaVATests", dependencies: ["LLaVA"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensor"]),
        .testTarget(name: "ShapesWorldTests", dependencies: ["ShapesWorld", "LLaVA"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "ContinualTests", dependencies: ["Continual"]),
        .testTarget(name: "ServerTests", dependencies: ["Server"]),
        // Runs the built `mneme` executable (`swift build` first): servers, replicas and crashes for real.
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "Imaging"]),
        // The command-line options themselves (`@testable import mneme`).
        .testTarget(name: "CommandTests", dependencies: ["mneme", "Server"]),
    ]
)
