// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Backprop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "backprop", targets: ["backprop"]),
        .executable(name: "backprop-server", targets: ["backprop-server"]),
        .executable(name: "backprop-worker", targets: ["backprop-worker"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Model files (--model FILE.yaml or .json).
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // ONNX export: the runtime library only (the generated code is committed; see scripts/generate-protos).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.30.0"),
    ],
    targets: [
        // MARK: - System libraries

        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        // TurboJPEG's jconfig.h (the libjpeg-turbo version) comes with libjpeg62-turbo-dev.
        .systemLibrary(
            name: "CTurboJPEG",
            pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev", "libjpeg62-turbo-dev"])]
        ),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),

        // MARK: - C kernels

        .target(name: "CKernels"),

        // MARK: - Measurement

        // Replaces malloc and friends with counting versions for the whole process: backprop-bench only.
        .target(name: "CAllocationCounter"),

        // MARK: - Libraries

        .target(name: "Randomness"),
        .target(name: "NeuralNet", dependencies: ["CKernels", "Randomness"]),
        .target(name: "Datasets", dependencies: ["CZlib", "CTurboJPEG", "CPNG", "Randomness"]),
        .target(name: "TrainingLog"),
        .target(name: "Messaging", dependencies: ["CZeroMQ"]),
        .target(
            name: "Training",
            dependencies: ["NeuralNet", "Datasets", "TrainingLog", "Messaging", "Randomness", "Yams"]
        ),
        .target(name: "ModelExport", dependencies: ["NeuralNet", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "ClusterControl", dependencies: ["Training", "TrainingLog", "Randomness"]),
        .target(
            name: "CommandSupport",
            dependencies: [
                "Training", "TrainingLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Commands

        .executableTarget(name: "backprop-bench", dependencies: ["NeuralNet", "Datasets", "Training", "CAllocationCounter"]),
        .executableTarget(
            name: "backprop",
            dependencies: [
                "Training", "CommandSupport", "ClusterControl", "Messaging", "ModelExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "backprop-server",
            dependencies: ["Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "backprop-worker",
            dependencies: ["Training", "CommandSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: - Tests

        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "CKernels", "Randomness"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "TrainingLogTests", dependencies: ["TrainingLog"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Messaging"]),
        .testTarget(name: "ClusterControlTests", dependencies: ["ClusterControl"]),
        .testTarget(name: "BackpropCLITests", dependencies: ["backprop"]),
        .testTarget(name: "MessagingTests", dependencies: ["Messaging"]),
        // Runs the built backprop-bench as a process; depending on it would link the allocation counter into the tests.
        .testTarget(name: "BackpropBenchTests"),
        .testTarget(name: "ClusterTests", dependencies: ["backprop-server", "backprop-worker", "Training", "Messaging"]),
    ]
)
