// swift-tools-version: 6.0
// A Transformer trainer written from scratch: kernels over OpenBLAS, data parallelism over MPI,
// datasets and checkpoints in HDF5. See README.md.
import PackageDescription

let package = Package(
    name: "trainer",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "trainer", targets: ["trainer"]),
        .library(name: "TrainerKit", targets: ["TrainerKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System libraries, each with a header-only shim for the macros Swift cannot import.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),

        // The library: kernels, model, tokenizers, storage, distributed, training.
        .target(
            name: "TrainerKit",
            dependencies: ["CBLAS", "CMPI", "CHDF5", .product(name: "Yams", package: "Yams")]
        ),

        // The thin command-line front end.
        .executableTarget(
            name: "trainer",
            dependencies: ["TrainerKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .testTarget(
            name: "TrainerKitTests",
            dependencies: ["TrainerKit"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
