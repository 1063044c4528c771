import Foundation

/// `trainer bench kernels`: every kernel's forward and backward throughput at the seed GPT's shapes
/// (B·T = 4096 rows, C = 384, 4C = 1536, T = 256, 6 heads of 64), next to raw `cblas_sgemm` at the
/// same shapes and thread count, measured in the same run.
public struct KernelBench {
    /// One line of the report.
    public struct Row: Sendable {
        public var kernel: String
        public var pass: String
        public var milliseconds: Double
        /// GFLOP/s for products, nil for memory-bound kernels.
        public var gflops: Double?
        /// Bytes moved per second per thread (GB/s/core), for memory-bound kernels.
        public var gigabytesPerSecondPerCore: Double?
        /// Our rate ÷ raw sgemm's rate at the same shape (products), or ÷ the best raw sgemm rate
        /// (attention).
        public var ratio: Double?
        public var note: String
    }

    public var batch = 16, time = 256, channels = 384, heads = 6, vocabulary = 65
    public var threads: Int
    public var repeats: Int

    public init(threads: Int, repeats: Int = 7) {
        self.threads = threads
        self.repeats = repeats
    }

    /// Best wall time of `body` in seconds over `repeats` runs, after one warm-up run. The minimum,
    /// not the mean: on a shared machine other load only ever adds time.
    func time(_ body: () -> Void) -> Double {
        withoutActuallyEscaping(body) { timeInterleaved([$0])[0] }
    }

    /// Best times of several bodies run in alternation (A B A B ...), so that a slow patch of the
    /// machine affects them alike.
    func timeInterleaved(_ bodies: [() -> Void]) -> [Double] {
        for body in bodies { body() }
        var best = [Double](repeating: .infinity, count: bodies.count)
        for _ in 0 ..< repeats {
            for (i, body) in bodies.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                best[i] = min(best[i], Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        return best
    }

    /// Runs every measurement and returns the rows in report order.
    public func run() -> [Row] {
        let parallelism = Parallelism(threads: threads)
        let N = batch * time, C = channels, FF = 4 * channels
        var rows: [Row] = []
        var random = SplitMix(seed: 42)
        func buffer(_ count: Int, scale: Float = 1) -> FloatBuffer {
            let b = FloatBuffer(count: count)
            for i in 0 ..< count { b[i] = random.uniform() * scale }
            return b
        }

        // Raw sgemm on OpenBLAS's own threads at the same shapes, measured first and apart: its idle
        // threads spin for a while after each call (OPENBLAS_THREAD_TIMEOUT) and would steal cores
        // from kernels timed right after.
        func rawSgemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int) -> Double {
            let a = buffer(m * k), b = buffer(k * n), c = FloatBuffer(count: m * n)
            BLAS.setLibraryThreads(threads)
            defer { BLAS.configureForKernels() }
            return time {
                BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                           a: a.readPointer, lda: transposeA ? m : k, b: b.readPointer, ldb: transposeB ? k : n,
                           beta: 1, c: c.pointer, ldc: n)
            }
        }
        let linearShapes = [("linear qkv", C, 3 * C), ("linear attn proj", C, C), ("linear fc1", C, FF), ("linear fc2", FF, C)]
        // (forward, backward) raw seconds per shape; the backward is two products:
        // dx (N×out · out×in, NN) and dW (outᵀ×N · N×in, TN).
        let raw = linearShapes.map { _, inC, outC in
            (rawSgemm(false, true, N, outC, inC), rawSgemm(false, false, N, inC, outC) + rawSgemm(true, false, outC, inC, N))
        }
        usleep(500_000)
        var peak = 0.0
        for ((name, inC, outC), (rawForward, rawBackward)) in zip(linearShapes, raw) {
            let x = buffer(N * inC), w = buffer(outC * inC, scale: 0.05), b = buffer(outC), y = FloatBuffer(count: N * outC)
            let dy = buffer(N * outC), dx = FloatBuffer(count: N * inC), dw = FloatBuffer(count: outC * inC), db = FloatBuffer(count: outC)
            let flops = 2 * Double(N * inC * outC)
            let forward = time {
                Linear.forward(output: y.pointer, input: x.readPointer, weight: w.readPointer, bias: b.readPointer,
                               rows: N, inputChannels: inC, outputChannels: outC, parallelism: parallelism)
            }
            let backward = time {
                Linear.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                                outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                                rows: N, inputChannels: inC, outputChannels: outC, parallelism: parallelism)
            }
            peak = max(peak, flops / rawForward / 1e9, 2 * flops / rawBackward / 1e9)
            let shape = "\(N)×\(inC)→\(outC)"
            rows.append(Row(kernel: name, pass: "forward", milliseconds: forward * 1e3, gflops: flops / forward / 1e9,
                            ratio: rawForward / forward, note: "\(shape); raw sgemm \(fmt(flops / rawForward / 1e9)) GFLOP/s"))
            rows.append(Row(kernel: name, pass: "backward", milliseconds: backward * 1e3, gflops: 2 * flops / backward / 1e9,
                            ratio: rawBackward / backward, note: "\(shape); raw sgemm \(fmt(2 * flops / rawBackward / 1e9)) GFLOP/s"))
        }

        do {  // causal self-attention over a fused q|k|v buffer
            let shape = Attention.Shape(batch: batch, queryLength: time, keyLength: time, heads: heads,
                                        headSize: C / heads, causal: true)
            let qkv = buffer(N * 3 * C), out = FloatBuffer(count: N * C)
            let probabilities = FloatBuffer(count: batch * heads * time * time)
            let dOut = buffer(N * C), dqkv = FloatBuffer(count: N * 3 * C)
            let forward = time {
                Attention.forward(output: out.pointer, probabilities: probabilities.pointer,
                                  query: qkv.readPointer, queryStride: 3 * C, key: qkv.readPointer + C, keyStride: 3 * C,
                                  value: qkv.readPointer + 2 * C, valueStride: 3 * C, shape: shape, parallelism: parallelism)
            }
            let backward = time {
                Attention.backward(queryGradient: dqkv.pointer, queryGradientStride: 3 * C,
                                   keyGradient: dqkv.pointer + C, keyGradientStride: 3 * C,
                                   valueGradient: dqkv.pointer + 2 * C, valueGradientStride: 3 * C,
                                   outputGradient: dOut.readPointer, probabilities: probabilities.readPointer,
                                   query: qkv.readPointer, queryStride: 3 * C, key: qkv.readPointer + C, keyStride: 3 * C,
                                   value: qkv.readPointer + 2 * C, valueStride: 3 * C, shape: shape, parallelism: parallelism)
            }
            let forwardFLOPs = Attention.forwardFLOPs(shape), backwardFLOPs = Attention.backwardFLOPs(shape)
            let total = forwardFLOPs + backwardFLOPs, minimum = Attention.minimumFLOPs(shape)
            let note = "B=\(batch) T=\(time) \(heads)×\(C / heads) causal, blocks of \(Attention.queryBlock); vs best raw sgemm \(fmt(peak))"
            rows.append(Row(kernel: "attention", pass: "forward", milliseconds: forward * 1e3, gflops: forwardFLOPs / forward / 1e9,
                            ratio: forwardFLOPs / forward / 1e9 / peak, note: note))
            rows.append(Row(kernel: "attention", pass: "backward", milliseconds: backward * 1e3,
                            gflops: backwardFLOPs / backward / 1e9, ratio: backwardFLOPs / backward / 1e9 / peak, note: note))
            rows.append(Row(kernel: "attention", pass: "fwd+bwd", milliseconds: (forward + backward) * 1e3,
                            gflops: total / (forward + backward) / 1e9, ratio: total / (forward + backward) / 1e9 / peak,
                            note: note + String(format: "; on the causal minimum of FLOPs: %.1f GFLOP/s, %.0f%%",
                                                minimum / (forward + backward) / 1e9, 100 * minimum / (forward + backward) / 1e9 / peak)))
        }

        // bf16 (precision: bf16, where the CPU has native bf16 products): the Linear layers as
        // `LinearLayer` runs them (weight, input and output gradient converted each pass), next to
        // oneDNN's raw bf16 matmul at the same shapes on the same threads.
        var bf16Peak = 0.0
        if BF16.isNative {
            for (name, inC, outC) in linearShapes {
                let x = buffer(N * inC), w = buffer(outC * inC, scale: 0.05), b = buffer(outC), y = FloatBuffer(count: N * outC)
                let dy = buffer(N * outC), dx = FloatBuffer(count: N * inC), dw = FloatBuffer(count: outC * inC)
                let db = FloatBuffer(count: outC)
                let xh = alignedAllocate(UInt16.self, count: N * inC), wh = alignedAllocate(UInt16.self, count: outC * inC)
                let dyh = alignedAllocate(UInt16.self, count: N * outC)
                defer { xh.deallocate(); wh.deallocate(); dyh.deallocate() }
                let flops = 2 * Double(N * inC * outC)
                // Raw: the three products alone, split over the threads by rows as LinearBF16 does.
                func raw(_ m: Int, _ body: @escaping (Range<Int>) -> Void) -> () -> Void {
                    { parallelism.forEachPiece(count: m) { _, rows in body(rows) } }
                }
                let rawForward = time(raw(N) { r in
                    BF16.gemm(transposeA: false, transposeB: true, m: r.count, n: outC, k: inC, a: xh + r.lowerBound * inC,
                              lda: inC, b: wh, ldb: inC, c: y.pointer + r.lowerBound * outC, ldc: outC, accumulate: false)
                })
                let rawBackward = time(raw(N) { r in
                    BF16.gemm(transposeA: false, transposeB: false, m: r.count, n: inC, k: outC, a: dyh + r.lowerBound * outC,
                              lda: outC, b: wh, ldb: inC, c: dx.pointer + r.lowerBound * inC, ldc: inC, accumulate: false)
                }) + time(raw(outC) { r in
                    BF16.gemm(transposeA: true, transposeB: false, m: r.count, n: inC, k: N, a: dyh + r.lowerBound, lda: outC,
                              b: xh, ldb: inC, c: dw.pointer + r.lowerBound * inC, ldc: inC, accumulate: true)
                })
                let forward = time {
                    BF16.convert(w.readPointer, to: wh, count: outC * inC, parallelism: parallelism)
                    BF16.convert(x.readPointer, to: xh, count: N * inC, parallelism: parallelism)
                    LinearBF16.forward(output: y.pointer, input: xh, weight: wh, bias: b.readPointer, rows: N,
                                       inputChannels: inC, outputChannels: outC, parallelism: parallelism)
                }
                let backward = time {
                    BF16.convert(dy.readPointer, to: dyh, count: N * outC, parallelism: parallelism)
                    LinearBF16.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                                        outputGradient: dy.readPointer, outputGradientBF16: dyh, input: xh, weight: wh,
                                        rows: N, inputChannels: inC, outputChannels: outC, parallelism: parallelism)
                }
                bf16Peak = max(bf16Peak, flops / rawForward / 1e9, 2 * flops / rawBackward / 1e9)
                let shape = "\(N)×\(inC)→\(outC), conversions included; raw oneDNN bf16"
                rows.append(Row(kernel: name + " bf16", pass: "forward", milliseconds: forward * 1e3, gflops: flops / forward / 1e9,
                                ratio: rawForward / forward, note: "\(shape) \(fmt(flops / rawForward / 1e9)) GFLOP/s"))
                rows.append(Row(kernel: name + " bf16", pass: "backward", milliseconds: backward * 1e3,
                                gflops: 2 * flops / backward / 1e9, ratio: rawBackward / backward,
                                note: "\(shape) \(fmt(2 * flops / rawBackward / 1e9)) GFLOP/s"))
            }
        }

        // The tiled attention the models run (FlashAttention), fp32 and bf16, rated on the causal
        // minimum of FLOPs against the best raw product rate of the same precision.
        for precision in [Precision.fp32, .bf16] where precision == .fp32 || BF16.isNative {
            let shape = Attention.Shape(batch: batch, queryLength: time, keyLength: time, heads: heads,
                                        headSize: C / heads, causal: true)
            let qkv = buffer(N * 3 * C), out = FloatBuffer(count: N * C), logSumExp = FloatBuffer(count: batch * heads * time)
            let dOut = buffer(N * C), dqkv = FloatBuffer(count: N * 3 * C)
            let forward = time {
                FlashAttention.forward(output: out.pointer, logSumExp: logSumExp.pointer,
                                       query: qkv.readPointer, queryStride: 3 * C, key: qkv.readPointer + C, keyStride: 3 * C,
                                       value: qkv.readPointer + 2 * C, valueStride: 3 * C, shape: shape,
                                       precision: precision, parallelism: parallelism)
            }
            let backward = time {
                FlashAttention.backward(queryGradient: dqkv.pointer, queryGradientStride: 3 * C,
                                        keyGradient: dqkv.pointer + C, keyGradientStride: 3 * C,
                                        valueGradient: dqkv.pointer + 2 * C, valueGradientStride: 3 * C,
                                        outputGradient: dOut.readPointer, output: out.readPointer, logSumExp: logSumExp.readPointer,
                                        query: qkv.readPointer, queryStride: 3 * C, key: qkv.readPointer + C, keyStride: 3 * C,
                                        value: qkv.readPointer + 2 * C, valueStride: 3 * C, shape: shape,
                                        precision: precision, parallelism: parallelism)
            }
            // The causal minimum: the visible triangle, 2 products forward and 4 backward (the
            // recomputed scores are not counted).
            let minimum = Attention.minimumFLOPs(shape), best = precision == .fp32 ? peak : bf16Peak
            let forwardMinimum = minimum / 3, backwardMinimum = minimum * 2 / 3
            let note = "B=\(batch) T=\(time) \(heads)×\(C / heads) causal, tiles \(FlashAttention.queryBlock)×\(FlashAttention.block); on the causal minimum of FLOPs vs best raw \(precision.rawValue) product \(fmt(best))"
            let name = "attention tiled " + precision.rawValue
            rows.append(Row(kernel: name, pass: "forward", milliseconds: forward * 1e3, gflops: forwardMinimum / forward / 1e9,
                            ratio: forwardMinimum / forward / 1e9 / best, note: note))
            rows.append(Row(kernel: name, pass: "backward", milliseconds: backward * 1e3,
                            gflops: backwardMinimum / backward / 1e9, ratio: backwardMinimum / backward / 1e9 / best, note: note))
            rows.append(Row(kernel: name, pass: "fwd+bwd", milliseconds: (forward + backward) * 1e3,
                            gflops: minimum / (forward + backward) / 1e9, ratio: minimum / (forward + backward) / 1e9 / best,
                            note: note))
        }

        // Memory-bound kernels: bytes of compulsory traffic per element (reads + writes, gradients
        // read and written because backward accumulates).
        func memory(_ kernel: String, _ pass: String, elements: Int, bytesPerElement: Int, note: String = "", _ body: () -> Void) {
            let seconds = time(body)
            let rate = Double(elements * bytesPerElement) / seconds / 1e9 / Double(threads)
            rows.append(Row(kernel: kernel, pass: pass, milliseconds: seconds * 1e3, gigabytesPerSecondPerCore: rate,
                            note: "\(elements) elements × \(bytesPerElement) B" + (note.isEmpty ? "" : "; " + note)))
        }
        do {
            let x = buffer(N * C, scale: 3), w = buffer(C), b = buffer(C), y = FloatBuffer(count: N * C)
            let mean = FloatBuffer(count: N), rstd = FloatBuffer(count: N), dy = buffer(N * C), dx = FloatBuffer(count: N * C)
            let dw = FloatBuffer(count: C), db = FloatBuffer(count: C)
            memory("layer norm", "forward", elements: N * C, bytesPerElement: 8) {
                LayerNorm.forward(output: y.pointer, mean: mean.pointer, reciprocalStd: rstd.pointer, input: x.readPointer,
                                  weight: w.readPointer, bias: b.readPointer, rows: N, channels: C, parallelism: parallelism)
            }
            memory("layer norm", "backward", elements: N * C, bytesPerElement: 16) {
                LayerNorm.backward(inputGradient: dx.pointer, weightGradient: dw.pointer, biasGradient: db.pointer,
                                   outputGradient: dy.readPointer, input: x.readPointer, weight: w.readPointer,
                                   mean: mean.readPointer, reciprocalStd: rstd.readPointer, rows: N, channels: C,
                                   parallelism: parallelism)
            }
        }
        do {
            let count = N * FF
            let x = buffer(count, scale: 4), y = FloatBuffer(count: count), dy = buffer(count), dx = FloatBuffer(count: count)
            for approximation in GELU.Approximation.allCases {
                let name = approximation == .tanh ? "GELU tanh" : "GELU exact"
                memory(name, "forward", elements: count, bytesPerElement: 8) {
                    GELU.forward(output: y.pointer, input: x.readPointer, count: count, approximation: approximation,
                                 parallelism: parallelism)
                }
                memory(name, "backward", elements: count, bytesPerElement: 16) {
                    GELU.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, input: x.readPointer,
                                  count: count, approximation: approximation, parallelism: parallelism)
                }
            }
            // The bias folded into the activation (rows × 4C, the first feed-forward layer's output).
            let bias = buffer(FF), dBias = FloatBuffer(count: FF)
            for approximation in GELU.Approximation.allCases {
                let name = approximation == .tanh ? "GELU tanh + bias" : "GELU exact + bias"
                memory(name, "forward", elements: count, bytesPerElement: 8) {
                    GELU.forward(output: y.pointer, input: x.readPointer, bias: bias.readPointer, rows: N, channels: FF,
                                 approximation: approximation, parallelism: parallelism)
                }
                memory(name, "backward", elements: count, bytesPerElement: 16, note: "and Σ rows into the bias") {
                    GELU.backward(inputGradient: dx.pointer, biasGradient: dBias.pointer, outputGradient: dy.readPointer,
                                  input: x.readPointer, bias: bias.readPointer, rows: N, channels: FF,
                                  approximation: approximation, parallelism: parallelism)
                }
            }
            memory("ReLU", "forward", elements: count, bytesPerElement: 8) {
                ReLU.forward(output: y.pointer, input: x.readPointer, count: count, parallelism: parallelism)
            }
            memory("ReLU", "backward", elements: count, bytesPerElement: 16) {
                ReLU.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, input: x.readPointer, count: count,
                              parallelism: parallelism)
            }
            let stream = RandomStream(seed: 1, 2, 3, 4)
            memory("dropout p=0.2", "forward", elements: count, bytesPerElement: 8) {
                Dropout.forward(output: y.pointer, input: x.readPointer, count: count, probability: 0.2, stream: stream,
                                parallelism: parallelism)
            }
            memory("dropout p=0.2", "backward", elements: count, bytesPerElement: 12) {
                Dropout.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, count: count, probability: 0.2,
                                 stream: stream, parallelism: parallelism)
            }
            let residual = buffer(count), dResidual = FloatBuffer(count: count)
            memory("dropout + residual", "forward", elements: count, bytesPerElement: 12, note: "p=0.2") {
                Dropout.forward(output: y.pointer, residual: residual.readPointer, input: x.readPointer, count: count,
                                probability: 0.2, stream: stream, parallelism: parallelism)
            }
            memory("dropout + residual", "backward", elements: count, bytesPerElement: 20, note: "p=0.2, both gradients") {
                Dropout.backward(inputGradient: dx.pointer, residualGradient: dResidual.pointer, outputGradient: dy.readPointer,
                                 count: count, probability: 0.2, stream: stream, parallelism: parallelism)
            }
            memory("residual", "forward", elements: N * C, bytesPerElement: 12) {
                Residual.forward(output: y.pointer, x.readPointer, dy.readPointer, count: N * C, parallelism: parallelism)
            }
            memory("residual", "backward", elements: N * C, bytesPerElement: 20) {
                Residual.backward(aGradient: dx.pointer, bGradient: y.pointer, outputGradient: dy.readPointer, count: N * C,
                                  parallelism: parallelism)
            }
        }
        do {  // softmax over attention-shaped rows
            let rowsCount = batch * heads * time, count = rowsCount * time
            let x = buffer(count, scale: 4), y = FloatBuffer(count: count), dy = buffer(count), dx = FloatBuffer(count: count)
            memory("softmax", "forward", elements: count, bytesPerElement: 8, note: "rows of \(time)") {
                Softmax.forward(output: y.pointer, input: x.readPointer, rows: rowsCount, columns: time, parallelism: parallelism)
            }
            memory("softmax", "backward", elements: count, bytesPerElement: 16, note: "rows of \(time)") {
                Softmax.backward(inputGradient: dx.pointer, outputGradient: dy.readPointer, output: y.readPointer,
                                 rows: rowsCount, columns: time, parallelism: parallelism)
            }
        }
        do {
            let V = vocabulary
            let table = buffer(V * C), out = FloatBuffer(count: N * C), dOut = buffer(N * C), dTable = FloatBuffer(count: V * C)
            let tokens = (0 ..< N).map { Int32(($0 * 31) % V) }
            tokens.withUnsafeBufferPointer { ids in
                memory("embedding", "forward", elements: N * C, bytesPerElement: 8, note: "V=\(V)") {
                    Embedding.forward(output: out.pointer, tokens: ids.baseAddress!, table: table.readPointer, rows: N,
                                      channels: C, parallelism: parallelism)
                }
                memory("embedding", "backward", elements: N * C, bytesPerElement: 12, note: "V=\(V)") {
                    Embedding.backward(tableGradient: dTable.pointer, outputGradient: dOut.readPointer, tokens: ids.baseAddress!,
                                       rows: N, channels: C, parallelism: parallelism)
                }
            }
            let positions = buffer(time * C)
            memory("position embedding", "forward", elements: N * C, bytesPerElement: 8) {
                PositionEmbedding.forward(output: out.pointer, input: out.readPointer, table: positions.readPointer,
                                          batch: batch, time: time, channels: C, parallelism: parallelism)
            }
            memory("position embedding", "backward", elements: N * C, bytesPerElement: 12) {
                PositionEmbedding.backward(inputGradient: nil, tableGradient: positions.pointer, outputGradient: dOut.readPointer,
                                           batch: batch, time: time, channels: C, parallelism: parallelism)
            }
            let logits = buffer(N * V, scale: 3), probabilities = FloatBuffer(count: N * V), losses = FloatBuffer(count: N)
            let dLogits = FloatBuffer(count: N * V)
            let targets = (0 ..< N).map { Int32(($0 * 7) % V) }
            targets.withUnsafeBufferPointer { t in
                memory("cross-entropy", "forward", elements: N * V, bytesPerElement: 8, note: "V=\(V), ε=0.1") {
                    _ = CrossEntropy.forward(losses: losses.pointer, probabilities: probabilities.pointer, logits: logits.readPointer,
                                             targets: t.baseAddress!, rows: N, classes: V, labelSmoothing: 0.1,
                                             parallelism: parallelism)
                }
                memory("cross-entropy", "backward", elements: N * V, bytesPerElement: 12, note: "V=\(V), ε=0.1") {
                    CrossEntropy.backward(logitsGradient: dLogits.pointer, probabilities: probabilities.readPointer,
                                          targets: t.baseAddress!, rows: N, classes: V, labelSmoothing: 0.1, scale: 1,
                                          parallelism: parallelism)
                }
            }
        }
        return rows
    }

    /// The report as aligned text; `peak` (FLOP/s, the machine's for these threads) gives the
    /// "of peak" column of the products.
    public static func format(_ rows: [Row], peak: Double) -> String {
        var lines = ["kernel               pass       ms       GFLOP/s   ratio  of peak   GB/s/core   note"]
        for row in rows {
            let gflops = row.gflops.map { String(format: "%9.1f", $0) } ?? "        -"
            let ratio = row.ratio.map { String(format: "%6.0f%%", $0 * 100) } ?? "      -"
            let ofPeak = row.gflops.map { String(format: "%7.0f%%", $0 * 1e9 / peak * 100) } ?? "       -"
            let gbs = row.gigabytesPerSecondPerCore.map { String(format: "%9.2f", $0) } ?? "        -"
            lines.append(String(format: "%-20@ %-9@ %7.2f %@ %@ %@ %@   %@", row.kernel.padding(toLength: 20, withPad: " ", startingAt: 0),
                                row.pass.padding(toLength: 9, withPad: " ", startingAt: 0), row.milliseconds,
                                gflops, ratio, ofPeak, gbs, row.note))
        }
        return lines.joined(separator: "\n")
    }

    /// The sgemm rate (FLOP/s) of OpenBLAS on its own `threads` threads for C = A·Bᵀ with A m×k and
    /// B n×k (the layout of a linear layer's forward pass), the best of `repeats` runs.
    public static func sgemmRate(m: Int, n: Int, k: Int, threads: Int, repeats: Int) -> Double {
        var random = SplitMix(seed: 3)
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
        for i in 0 ..< m * k { a[i] = random.uniform() }
        for i in 0 ..< n * k { b[i] = random.uniform() }
        BLAS.setLibraryThreads(threads)
        defer { BLAS.configureForKernels() }
        let seconds = KernelBench(threads: threads, repeats: repeats).time {
            BLAS.sgemm(transposeA: false, transposeB: true, m: m, n: n, k: k, alpha: 1, a: a.readPointer, lda: k,
                       b: b.readPointer, ldb: k, beta: 0, c: c.pointer, ldc: n)
        }
        return 2 * Double(m * n * k) / seconds
    }

    /// One OpenBLAS kernel family's sgemm rates, measured in a child process started with
    /// `OPENBLAS_CORETYPE` set (OpenBLAS picks its kernels once, at load time).
    public struct KernelRate: Sendable {
        public var kernel: String
        /// FLOP/s on 1 thread and on the requested threads; nil if the child failed.
        public var oneThread: Double?, threads: Double?
    }

    /// Measures every family in `kernels` by running `executable bench sgemm` once per family,
    /// one after the other (never two at once). The shape is the seed GPT's qkv projection.
    public static func compareKernels(_ kernels: [String], threads: Int, executable: String = "/proc/self/exe") -> [KernelRate] {
        kernels.map { kernel in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["bench", "sgemm", "--threads", "1", String(threads)]
            var environment = ProcessInfo.processInfo.environment
            environment["OPENBLAS_CORETYPE"] = kernel
            environment["TRAINER_BLAS_KERNEL"] = "inherit"
            process.environment = environment
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return KernelRate(kernel: kernel) }
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            // The child's last line is "<kernel in use> <FLOP/s per thread count>..."; a kernel
            // OpenBLAS does not know falls back to another, which is not this kernel's rate.
            let last = output.split(separator: "\n").last ?? ""
            let fields = last.split(whereSeparator: \.isWhitespace).map(String.init)
            guard process.terminationStatus == 0, fields.count == 3, fields[0].lowercased() == kernel.lowercased() else {
                return KernelRate(kernel: kernel)
            }
            return KernelRate(kernel: kernel, oneThread: Double(fields[1]), threads: Double(fields[2]))
        }
    }
}

func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
