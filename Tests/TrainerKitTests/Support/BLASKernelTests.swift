import Foundation
import XCTest
import TrainerKit

/// Choosing OpenBLAS's kernel family: the setting, the plan for each CPU, and where the setting is read.
final class BLASKernelTests: XCTestCase {
    let avx2: Set<String> = ["avx", "avx2", "fma"]
    var avx512: Set<String> { avx2.union(["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"]) }
    var avx512bf16: Set<String> { avx512.union(["avx512_bf16"]) }

    func testChoicesParseAndBadNamesAreRefused() throws {
        XCTAssertEqual(try BLASKernel.Choice("auto"), .auto)
        XCTAssertEqual(try BLASKernel.Choice("INHERIT"), .inherit)
        XCTAssertEqual(try BLASKernel.Choice("skylakex"), .named("SkylakeX"), "any letter case, OpenBLAS's spelling")
        XCTAssertThrowsError(try BLASKernel.Choice("Skylake")) { error in
            XCTAssertTrue((error as? TrainerError)?.message.contains("blas_kernel 'Skylake' is not auto, inherit") == true, "\(error)")
        }
    }

    func testAutoPicksTheFastestFamilyTheCPUCanRun() throws {
        // An AVX-512 CPU (Zen 4/5, Skylake-SP and later) with Haswell forced on it: SkylakeX, the
        // AVX-512 kernels that OPENBLAS_CORETYPE accepts (OpenBLAS 0.3.21 refuses "Cooperlake").
        XCTAssertEqual(try BLASKernel.plan(.auto, current: "Haswell", flags: avx512bf16), "SkylakeX")
        XCTAssertEqual(try BLASKernel.plan(.auto, current: "Haswell", flags: avx512), "SkylakeX")
        XCTAssertEqual(try BLASKernel.plan(.auto, current: "Prescott", flags: avx512), "SkylakeX", "OpenBLAS fell back to generic kernels")
        XCTAssertNil(try BLASKernel.plan(.auto, current: "SkylakeX", flags: avx512bf16), "already the best")
        XCTAssertNil(try BLASKernel.plan(.auto, current: "Cooperlake", flags: avx512bf16), "OpenBLAS's own pick, same fp32 kernels")
        // An AVX2 CPU: Haswell and Zen are its best.
        XCTAssertNil(try BLASKernel.plan(.auto, current: "Haswell", flags: avx2))
        XCTAssertNil(try BLASKernel.plan(.auto, current: "Zen", flags: avx2))
        XCTAssertEqual(try BLASKernel.plan(.auto, current: "Sandybridge", flags: avx2), "Haswell")
        // A CPU without AVX (or not x86): nothing to choose.
        XCTAssertNil(try BLASKernel.plan(.auto, current: "Nehalem", flags: ["sse4_2"]))
    }

    func testInheritKeepsAndNamedFamiliesAreCheckedAgainstTheCPU() throws {
        XCTAssertNil(try BLASKernel.plan(.inherit, current: "Haswell", flags: avx512bf16))
        XCTAssertEqual(try BLASKernel.plan(.named("Haswell"), current: "Cooperlake", flags: avx512bf16), "Haswell")
        XCTAssertNil(try BLASKernel.plan(.named("SkylakeX"), current: "SkylakeX", flags: avx512bf16))
        XCTAssertThrowsError(try BLASKernel.plan(.named("SkylakeX"), current: "Haswell", flags: avx2)) { error in
            XCTAssertEqual((error as? TrainerError)?.message,
                           "blas_kernel SkylakeX needs the CPU feature avx512f, which this CPU lacks (it can run: Sandybridge, Haswell)")
        }
    }

    func testTheSettingComesFromSetThenEnvironmentThenConfigFile() throws {
        let folder = try makeTemporaryDirectory("blas-kernel")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try writeText("blas_kernel: Haswell\n", "run.yaml", in: folder)
        func choice(_ arguments: [String], _ environment: [String: String] = [:]) throws -> BLASKernel.Choice {
            try BLASKernel.requestedChoice(arguments: ["trainer"] + arguments, environment: environment)
        }
        XCTAssertEqual(try choice([]), .auto)
        XCTAssertEqual(try choice(["train", "--config", path]), .named("Haswell"))
        XCTAssertEqual(try choice(["train", "--config=\(path)"]), .named("Haswell"))
        XCTAssertEqual(try choice(["train", "--config", path], ["TRAINER_BLAS_KERNEL": "inherit"]), .inherit)
        XCTAssertEqual(try choice(["train", "--config", path, "--set", "blas_kernel=SkylakeX"], ["TRAINER_BLAS_KERNEL": "inherit"]),
                       .named("SkylakeX"))
        XCTAssertEqual(try choice(["train", "--set=blas_kernel=auto", "--set", "blas_kernel=inherit"]), .inherit, "the last --set wins")
        XCTAssertEqual(try choice(["train", "--set", "optimizer.lr=1e-3", "--config", folder + "/missing.yaml"]), .auto,
                       "a config that does not load is left for train to report")
        XCTAssertThrowsError(try choice(["train", "--set", "blas_kernel=fast"]))
    }

    func testConfigValidatesTheKey() throws {
        var config = RunConfig()
        config.blasKernel = "cooperlake"
        XCTAssertNoThrow(try config.validate())
        config.blasKernel = "fastest"
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertTrue((error as? TrainerError)?.message.hasPrefix("config: blas_kernel 'fastest' is not") == true, "\(error)")
        }
    }

    /// The FMA micro-benchmark gives a plausible peak: at least the sgemm rate's order of
    /// magnitude, with the vector width the CPU has.
    func testMachinePeakMeasuresTheWidestVectors() {
        let peak = MachinePeak.measure(threads: 1)
        let flags = CPU.flags
        let expectedLanes = flags.contains("avx512f") ? 16 : flags.contains("avx2") && flags.contains("fma") ? 8 : 4
        #if arch(x86_64)
        XCTAssertEqual(peak.lanes, expectedLanes)
        #endif
        XCTAssertGreaterThan(peak.microBenchmark, 1e9)
        XCTAssertGreaterThan(peak.gemm, 1e9)
        XCTAssertEqual(peak.flops, max(peak.microBenchmark, peak.gemm))
        XCTAssertTrue(peak.description.hasPrefix(String(format: "peak %.1f GFLOP/s: ", peak.flops / 1e9)), peak.description)
        print("machine peak, 1 thread: \(peak.description)")
    }
}
