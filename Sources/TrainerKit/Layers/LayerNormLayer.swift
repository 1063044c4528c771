/// A layer norm's parameters and cached statistics.
struct LayerNormLayer {
    let weight: ParameterView, bias: ParameterView
    let channels: Int, epsilon: Float
    let mean: FloatBuffer, reciprocalStd: FloatBuffer  // (rows)

    init(_ store: ParameterStore, _ name: String, channels: Int, epsilon: Float, rows: Int) {
        weight = store.view(name + "/weight")
        bias = store.view(name + "/bias")
        self.channels = channels
        self.epsilon = epsilon
        mean = FloatBuffer(count: rows)
        reciprocalStd = FloatBuffer(count: rows)
    }

    func forward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        LayerNorm.forward(output: output, mean: mean.pointer, reciprocalStd: reciprocalStd.pointer, input: input,
                          weight: weight.value, bias: bias.value, rows: rows, channels: channels, epsilon: epsilon,
                          parallelism: parallelism)
    }

    func backward(inputGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
                  input: UnsafePointer<Float>, rows: Int, _ parallelism: Parallelism) {
        LayerNorm.backward(inputGradient: inputGradient, weightGradient: weight.gradient, biasGradient: bias.gradient,
                           outputGradient: outputGradient, input: input, weight: weight.value,
                           mean: mean.readPointer, reciprocalStd: reciprocalStd.readPointer, rows: rows,
                           channels: channels, parallelism: parallelism)
    }
}
