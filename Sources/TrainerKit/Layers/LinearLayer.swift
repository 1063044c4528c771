/// A Linear layer's parameters (weight `[out, in]`, optional bias `[out]`).
struct LinearLayer {
    let weight: ParameterView, bias: ParameterView?
    let inputs: Int, outputs: Int

    init(weight: ParameterView, bias: ParameterView?, inputs: Int, outputs: Int) {
        self.weight = weight
        self.bias = bias
        self.inputs = inputs
        self.outputs = outputs
    }

    init(_ store: ParameterStore, _ name: String, inputs: Int, outputs: Int, bias: Bool = true) {
        self.init(weight: store.view(name + "/weight"), bias: bias ? store.view(name + "/bias") : nil,
                  inputs: inputs, outputs: outputs)
    }

    /// Adjacent Linear layers `names` (declared with `addFusedLinears`) as one wider layer.
    init(fused store: ParameterStore, _ names: [String], inputs: Int, outputs: Int) {
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

    func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        Linear.forward(output: output, input: input, weight: weight.value, bias: bias?.value, rows: rows,
                       inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
    }

    func backward(inputGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
                  input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        Linear.backward(inputGradient: inputGradient, weightGradient: weight.gradient, biasGradient: bias?.gradient,
                        outputGradient: outputGradient, input: input, weight: weight.value, rows: rows,
                        inputChannels: inputs, outputChannels: outputs, parallelism: parallelism)
    }
}
