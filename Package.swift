// swift-tools-version: 6.0
// A Transformer trainer written from scratch: kernels over OpenBLAS, data parallelism over MPI,
// datasets and checkpoints in HDF5. See README.md.
import PackageDescription

// The Swift kernels' loops are vectorised by the compiler; by default for the CPU that builds them
// (`-target-cpu native`: AVX2/AVX-512 instead of baseline SSE2). The heaviest element-wise kernels
// are C in CKernels, which picks AVX-512, AVX2 or plain C at run time whatever this setting.
// Build with TRAINER_TARGET_CPU=generic for a binary that runs on any x86-64 or arm64 machine, or
// name a CPU (e.g. TRAINER_TARGET_CPU=skylake-avx512). Results do not change: Swift never contracts
// floating-point operations, so vector and scalar code round identically.
let targetCPU = Context.environment["TRAINER_TARGET_CPU"] ?? "native"
let kernelSettings: [SwiftSetting] = targetCPU == "generic" ? [] : [.unsafeFlags(["-target-cpu", targetCPU])]

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

        // C kernels that need explicit vector instructions, picked at run time from the CPU's features.
        .target(name: "CKernels"),

        // bf16 matrix products on oneDNN (libdnnl-dev) and fp32 <-> bf16 conversions.
        .target(name: "CBF16", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        // The built-in corpus, embedded in the binary (the assembler's `.incbin`), so that it runs
        // from any folder on any node. The text stays in TrainerKit's Resources folder.
        .target(name: "CCorpus", cSettings: [.headerSearchPath("../TrainerKit/Resources")]),

        // Stop signals (SIGTERM / SIGINT → checkpoint, then exit) and run-directory locks (flock).
        .target(name: "CSignals"),

        // The library: kernels, model, tokenizers, storage, distributed, training.
        .target(
            name: "TrainerKit",
            dependencies: ["CBLAS", "CMPI", "CHDF5", "CKernels", "CBF16", "CSignals", "CCorpus", .product(name: "Yams", package: "Yams")],
            // The default corpus (public domain, see Resources/shakespeare.README.md), shipped unchanged
            // inside the binary by CCorpus.
            exclude: ["Resources"],
            swiftSettings: kernelSettings
        ),

        // The thin command-line front end. BuildInfo records the commit and the compiler for
        // `trainer --version` at build time, in the build folder.
        .executableTarget(
            name: "trainer",
            dependencies: ["TrainerKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            plugins: ["BuildInfo"]
        ),
        .plugin(name: "BuildInfo", capability: .buildTool(), path: "Sources/BuildInfo"),

        .testTarget(
            name: "TrainerKitTests",
            dependencies: ["TrainerKit"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
