// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Backprop",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "backprop", targets: ["backprop"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - System libraries

        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),

        // MARK: - Libraries

        .target(name: "Randomness"),
        .target(name: "NeuralNet", dependencies: ["Randomness"]),
        .target(name: "Datasets", dependencies: ["CZlib", "Randomness"]),
        .target(name: "TrainingLog"),
        .target(
            name: "Training",
            dependencies: ["NeuralNet", "Datasets", "TrainingLog", "Randomness"]
        ),
        .target(name: "Messaging", dependencies: ["CZeroMQ"]),

        // MARK: - Commands

        .executableTarget(
            name: "backprop",
            dependencies: [
                "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests

        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Randomness"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "TrainingLogTests", dependencies: ["TrainingLog"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training"]),
        .testTarget(name: "BackpropCLITests", dependencies: ["backprop"]),
        .testTarget(name: "MessagingTests", dependencies: ["Messaging"]),
    ]
)
