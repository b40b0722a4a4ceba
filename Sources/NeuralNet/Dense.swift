import Randomness

/// A fully connected layer: `output = input · kernel + bias`.
///
/// Kernel layout is Keras's: `(inputs, units)`, row-major; bias is `(units)`.
public struct Dense: Layer {
    public let kind = "dense"
    public let inputShape: Shape
    public let outputShape: Shape
    public let units: Int
    private let inputs: Int

    public init(inputShape: Shape, units: Int) throws {
        guard inputShape.dimensions.count == 1 else {
            throw ModelError.shapeMismatch("dense needs a vector input, got \(inputShape); add flatten before it")
        }
        guard units > 0 else { throw ModelError.shapeMismatch("dense needs at least one unit") }
        self.inputShape = inputShape
        self.units = units
        inputs = inputShape.count
        outputShape = Shape([units])
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "kernel", shape: [inputs, units]), ParameterSpec(name: "bias", shape: [units])]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        glorotUniform(parameters, count: inputs * units, fanIn: inputs, fanOut: units, using: &generator)
        (parameters + inputs * units).initialize(repeating: 0, count: units)
    }

    // MARK: - Forward

    /// input: (N, inputs); output: (N, units).
    ///
    /// One unit: a dot product per sample, 16 inputs per step, lanes summed by `sum(_:)`.
    /// Several units: `bias + Σ_i x_i · kernel_i` with units 16 to a vector, inputs in
    /// ascending order, two samples sharing each kernel load.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let kernel = parameters
        let bias = parameters + inputs * units
        if units == 1 {
            for n in 0..<batch {
                output[n] = bias[0] + dot(input + n * inputs, kernel, count: inputs)
            }
            return
        }
        // Rows of the kernel in tiles that stay in cache while every sample passes over them.
        let tile = max(1, 65_536 / units)
        let kernelEnd = kernel + inputs * units
        let outputEnd = output + batch * units
        for n in 0..<batch {
            (output + n * units).update(from: bias, count: units)
        }
        for start in stride(from: 0, to: inputs, by: tile) {
            let rows = start..<min(start + tile, inputs)
            for unit in stride(from: 0, to: units, by: Vector.scalarCount) {
                let lanes = min(Vector.scalarCount, units - unit)
                var n = 0
                while n < batch {
                    let x0 = input + n * inputs, y0 = output + n * units + unit
                    if n + 1 < batch {
                        let x1 = x0 + inputs, y1 = y0 + units
                        var (s0, s1) = (loadRow(y0, lanes, end: outputEnd), loadRow(y1, lanes, end: outputEnd))
                        var w = kernel + rows.lowerBound * units + unit
                        for i in rows {
                            let row = loadRow(w, lanes, end: kernelEnd)
                            s0 += x0[i] * row
                            s1 += x1[i] * row
                            w += units
                        }
                        store(s0, y0, lanes)
                        store(s1, y1, lanes)
                        n += 2
                    } else {
                        var s0 = loadRow(y0, lanes, end: outputEnd)
                        var w = kernel + rows.lowerBound * units + unit
                        for i in rows {
                            s0 += x0[i] * loadRow(w, lanes, end: kernelEnd)
                            w += units
                        }
                        store(s0, y0, lanes)
                        n += 1
                    }
                }
            }
        }
    }

    // MARK: - Backward

    /// Bias and kernel gradients summed over the samples; the input gradient `kernel · g` per sample.
    ///
    /// Up to 16 units, inputs go 16 at a time: each 16-row block of the kernel (and of its
    /// gradient) is transposed through a 1 KB stack buffer so that a vector holds one unit of
    /// 16 consecutive inputs (one unit needs no transposing). Wider layers keep units in the vectors.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let kernel = parameters
        let kernelGradient = gradients
        let biasGradient = gradients + inputs * units
        for n in 0..<batch {
            for u in 0..<units { biasGradient[u] += outputGradient[n * units + u] }
        }
        if units == 1 {
            singleUnitBackward(input, outputGradient, inputGradient, kernel: kernel, kernelGradient: kernelGradient, batch: batch)
            return
        }
        if units <= Vector.scalarCount {
            narrowBackward(input, outputGradient, inputGradient, kernel: kernel, kernelGradient: kernelGradient, batch: batch)
            return
        }
        accumulateKernelGradient(kernelGradient, input, outputGradient, batch: batch)
        guard let inputGradient else { return }
        computeInputGradient(inputGradient, outputGradient, kernel: kernel, batch: batch)
    }

    /// The backward pass for one unit, inputs 16 at a time. x: (N, inputs); g: (N, 1).
    ///
    /// kernelGradient_i += g_0 · x_0i + g_1 · x_1i + …, samples in order; inputGradient_ni = g_n · kernel_i.
    private func singleUnitBackward(
        _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ inputGradient: UnsafeMutablePointer<Float>?,
        kernel: UnsafePointer<Float>, kernelGradient: UnsafeMutablePointer<Float>, batch: Int
    ) {
        var i = 0
        while i + Vector.scalarCount <= inputs {
            var sum = kernelGradient.vector(i)
            for n in 0..<batch { sum += g[n] * x.vector(n * inputs + i) }
            kernelGradient.store(sum, i)
            i += Vector.scalarCount
        }
        for i in i..<inputs {
            for n in 0..<batch { kernelGradient[i] += g[n] * x[n * inputs + i] }
        }
        guard let inputGradient else { return }
        for n in 0..<batch {
            let dx = inputGradient + n * inputs
            var i = 0
            while i + Vector.scalarCount <= inputs {
                dx.store(g[n] * kernel.vector(i), i)
                i += Vector.scalarCount
            }
            for i in i..<inputs { dx[i] = g[n] * kernel[i] }
        }
    }

    /// The backward pass for 2 to 16 units. x: (N, inputs); g: (N, units).
    ///
    /// kernelGradient_iu += Σ_n x_ni · g_nu (the sum over samples from zero, then added);
    /// inputGradient_ni = Σ_u kernel_iu · g_nu, units in order. Rows past the last whole
    /// block are summed one by one in the same order.
    private func narrowBackward(
        _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ inputGradient: UnsafeMutablePointer<Float>?,
        kernel: UnsafePointer<Float>, kernelGradient: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let width = Vector.scalarCount
        withUnsafeTemporaryAllocation(of: Float.self, capacity: width * width) { buffer in
            // (units, 16): unit u of block rows 0..<16 at u * 16.
            let block = buffer.baseAddress!
            var i = 0
            while i + width <= inputs {
                // Units in pairs sharing each load of x, then the odd one out.
                var u = 0
                while u + 1 < units {
                    var (s0, s1) = (Vector(repeating: 0), Vector(repeating: 0))
                    var (xn, gn) = (x + i, g + u)
                    for _ in 0..<batch {
                        let values = xn.vector()
                        s0 += gn[0] * values
                        s1 += gn[1] * values
                        xn += inputs
                        gn += units
                    }
                    block.store(s0, u * width)
                    block.store(s1, (u + 1) * width)
                    u += 2
                }
                if u < units {
                    var s0 = Vector(repeating: 0)
                    var (xn, gn) = (x + i, g + u)
                    for _ in 0..<batch {
                        s0 += gn[0] * xn.vector()
                        xn += inputs
                        gn += units
                    }
                    block.store(s0, u * width)
                }
                var row = kernelGradient + i * units
                for r in 0..<width {
                    var column = block + r
                    for u in 0..<units {
                        row[u] += column.pointee
                        column += width
                    }
                    row += units
                }
                if let inputGradient {
                    var row = kernel + i * units
                    for r in 0..<width {
                        var column = block + r
                        for u in 0..<units {
                            column.pointee = row[u]
                            column += width
                        }
                        row += units
                    }
                    var (gn, dx) = (g, inputGradient + i)
                    for _ in 0..<batch {
                        var column = UnsafePointer(block)
                        var sum = gn[0] * column.vector()
                        for u in 1..<units {
                            column += width
                            sum += gn[u] * column.vector()
                        }
                        dx.store(sum)
                        gn += units
                        dx += inputs
                    }
                }
                i += width
            }
            for i in i..<inputs {
                for u in 0..<units {
                    var sum: Float = 0
                    for n in 0..<batch { sum += g[n * units + u] * x[n * inputs + i] }
                    kernelGradient[i * units + u] += sum
                }
                guard let inputGradient else { continue }
                for n in 0..<batch {
                    var sum = g[n * units] * kernel[i * units]
                    for u in 1..<units { sum += g[n * units + u] * kernel[i * units + u] }
                    inputGradient[n * inputs + i] = sum
                }
            }
        }
    }

    /// Wide layers: kernelGradient (inputs, units) += Σ_n x_n ⊗ g_n, samples in order; two kernel rows share each load of g.
    private func accumulateKernelGradient(
        _ kernelGradient: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ g: UnsafePointer<Float>, batch: Int
    ) {
        let end = UnsafePointer(kernelGradient + inputs * units)
        for unit in stride(from: 0, to: units, by: Vector.scalarCount) {
            let lanes = min(Vector.scalarCount, units - unit)
            var i = 0
            while i < inputs {
                let d0 = kernelGradient + i * units + unit
                if i + 1 < inputs {
                    let d1 = d0 + units
                    var (s0, s1) = (loadRow(d0, lanes, end: end), loadRow(d1, lanes, end: end))
                    for n in 0..<batch {
                        let gn = loadRow(g + n * units + unit, lanes, end: g + batch * units)
                        s0 += input[n * inputs + i] * gn
                        s1 += input[n * inputs + i + 1] * gn
                    }
                    store(s0, d0, lanes)
                    store(s1, d1, lanes)
                    i += 2
                } else {
                    var s0 = loadRow(d0, lanes, end: end)
                    for n in 0..<batch {
                        s0 += input[n * inputs + i] * loadRow(g + n * units + unit, lanes, end: g + batch * units)
                    }
                    store(s0, d0, lanes)
                    i += 1
                }
            }
        }
    }

    /// Wide layers: inputGradient (N, inputs): row i of the kernel dotted with g_n, units 16 lanes at a
    /// time, then one fixed-order sum of the lanes; two samples share each kernel load.
    private func computeInputGradient(
        _ inputGradient: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, kernel: UnsafePointer<Float>, batch: Int
    ) {
        let kernelEnd = kernel + inputs * units
        let gEnd = g + batch * units
        // Lanes of the last, partial block of units that hold units (the others are masked off).
        let partial = lanes(below: units % Vector.scalarCount)
        let zero = Vector(repeating: 0)
        for i in 0..<inputs {
            let row = kernel + i * units
            var n = 0
            while n < batch {
                let g0 = g + n * units
                let g1 = n + 1 < batch ? g0 + units : g0
                var (s0, s1) = (zero, zero)
                var unit = 0
                while unit + Vector.scalarCount <= units {
                    let w = row.vector(unit)
                    s0 += w * g0.vector(unit)
                    s1 += w * g1.vector(unit)
                    unit += Vector.scalarCount
                }
                if unit < units {
                    let lanes = units - unit
                    let w = loadRow(row + unit, lanes, end: kernelEnd)
                    s0 += zero.replacing(with: w * loadRow(g0 + unit, lanes, end: gEnd), where: partial)
                    s1 += zero.replacing(with: w * loadRow(g1 + unit, lanes, end: gEnd), where: partial)
                }
                inputGradient[n * inputs + i] = sum(s0)
                if n + 1 < batch { inputGradient[(n + 1) * inputs + i] = sum(s1) }
                n += 2
            }
        }
    }
}

// MARK: - Vector helpers

/// Σ a_i · b_i over `inputs` values: 16-lane partial sums in input order, `sum(_:)` of the
/// lanes, then the inputs beyond a multiple of 16 in order.
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = Vector(repeating: 0)
    var i = 0
    while i + Vector.scalarCount <= count {
        lanes += a.vector(i) * b.vector(i)
        i += Vector.scalarCount
    }
    var total = sum(lanes)
    for i in i..<count { total += a[i] * b[i] }
    return total
}

/// Lanes `0..<lanes` hold the floats at `p`; the others hold what follows `p` in memory when
/// that is before `end`, zero otherwise. Callers use only the first `lanes` lanes.
@inline(__always)
private func loadRow(_ p: UnsafePointer<Float>, _ lanes: Int, end: UnsafePointer<Float>) -> Vector {
    if lanes == Vector.scalarCount || end - p >= Vector.scalarCount { return p.vector() }
    var v = Vector(repeating: 0)
    for lane in 0..<lanes { v[lane] = p[lane] }
    return v
}

@inline(__always)
private func loadRow(_ p: UnsafeMutablePointer<Float>, _ lanes: Int, end: UnsafeMutablePointer<Float>) -> Vector {
    loadRow(UnsafePointer(p), lanes, end: UnsafePointer(end))
}

/// Writes lanes `0..<lanes` of `v` at `p`.
@inline(__always)
private func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == Vector.scalarCount {
        p.store(v)
    } else {
        for lane in 0..<lanes { p[lane] = v[lane] }
    }
}
