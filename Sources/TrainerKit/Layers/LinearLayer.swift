/// A Linear layer's parameters (weight `[out, in]`, optional bias `[out]`), run in fp32 (`Linear`)
/// or bf16 (`LinearBF16`) as the pass's precision says. In bf16 it keeps, from the forward pass to
/// the backward pass, the bf16 copies of its weight and of its input.
final class LinearLayer {
    let weight: ParameterView, bias: ParameterView?
    let inputs: Int, outputs: Int
    /// bf16 copies, allocated at the first bf16 pass: weight (outputs, inputs) and input (rows, inputs).
    private var weightBF16: UnsafeMutablePointer<UInt16>?
    private var inputBF16: UnsafeMutablePointer<UInt16>?
    private var inputCapacity = 0

    init(weight: ParameterView, bias: ParameterView?, inputs: Int, outputs: Int) {
        self.weight = weight
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }

    convenience init(_ store: ParameterStore, _ name: String, inputs: Int, outputs: Int, bias: Bool = true) {
        self.init(weight: store.view(name + "/weight"), bias: bias ? store.view(name + "/bias") : nil,
                  inputs: inputs, outputs: outputs)
    }

    /// Adjacent Linear layers `names` (declared with `addFusedLinears`) as one wider layer.
    convenience init(fused store: ParameterStore, _ names: [String], inputs: Int, outputs: Int) {
        let first = store.view(names[0] + "/weight"), firstBias = store.view(names[0] + "/bias")
        for (i, name) in names.enumerated() {
            precondition(store.view(name + "/weight").value == first.value + i * outputs * inputs, "\(name) not fused")
            precondition(store.view(name + "/bias").value == firstBias.value + i * outputs, "\(name) bias not fused")
        }
        let count = names.count
        self.init(weight: ParameterView(value: first.value, gradient: first.gradient, count: count * outputs * inputs),
                  bias: ParameterView(value: firstBias.value, gradient: firstBias.gradient, count: count * outputs),
                  inputs: inputs, outputs: count * outputs)
    }

    deinit {
        weightBF16?.deallocate()
        inputBF16?.deallocate()
    }

    /// `output = input·Wᵀ + b` over `rows` rows, in `precision`. Without `addsBias` the bias is left
    /// to the caller (a fused activation adds it, and takes its gradient, itself).
    func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, precision: Precision,
                 addsBias: Bool = true, _ parallelism: Parallelism) {
        let bias = addsBias ? self.bias : nil
        switch precision {
        case .fp32:
            Linear.forward(output: output, input: input, weight: weight.value, bias: bias?.value, rows: rows,
                           inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
        case .bf16:
            if weightBF16 == nil { weightBF16 = alignedAllocate(UInt16.self, count: outputs * inputs) }
            if inputCapacity < rows * inputs {
                inputBF16?.deallocate()
                inputBF16 = alignedAllocate(UInt16.self, count: rows * inputs)
                inputCapacity = rows * inputs
            }
            // The weight is converted at every forward pass (it changes at every step; the cost is
            // one pass over it per micro-batch).
            BF16.convert(weight.value, to: weightBF16!, count: outputs * inputs, parallelism: parallelism)
            BF16.convert(input, to: inputBF16!, count: rows * inputs, parallelism: parallelism)
            LinearBF16.forward(output: output, input: inputBF16!, weight: weightBF16!, bias: bias?.value, rows: rows,
                               inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
        }
    }

    /// Backward of the last `forward` on the same `input` and `rows`: accumulates the parameter
    /// gradients and (if given) `inputGradient`. In bf16 the output gradient is converted into
    /// `scratch`'s bf16 buffer.
    func backward(inputGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                  input: UnsafePointer<Float>, rows: Int, precision: Precision, addsBias: Bool = true,
                  scratch: BackwardScratch, _ parallelism: Parallelism) {
        let bias = addsBias ? self.bias : nil
        switch precision {
        case .fp32:
            Linear.backward(inputGradient: inputGradient, weightGradient: weight.gradient, biasGradient: bias?.gradient,
                            outputGradient: outputGradient, input: input, weight: weight.value, rows: rows,
                            inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
        case .bf16:
            guard let weightBF16, let inputBF16 else { preconditionFailure("bf16 backward without a bf16 forward") }
            let dY = scratch.bf16(count: rows * outputs)
            BF16.convert(outputGradient, to: dY, count: rows * outputs, parallelism: parallelism)
            LinearBF16.backward(inputGradient: inputGradient, weightGradient: weight.gradient, biasGradient: bias?.gradient,
                                outputGradient: outputGradient, outputGradientBF16: dY, input: inputBF16, weight: weightBF16,
                                rows: rows, inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
        }
    }
}
