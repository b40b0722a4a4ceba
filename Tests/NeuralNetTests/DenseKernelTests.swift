import CKernels
import XCTest

/// The dense kernels sum in the order their comments promise, on every path (one unit, fewer
/// units than a vector, more; whole and partial tiles of samples; several groups of 16 samples;
/// more units than one chunk of transposed gradients): each value is the scalar formula rounded
/// step by step. So a sample's output and input gradient do not depend on its batch, and the
/// kernel gradient not on how the batch is tiled.
final class DenseKernelTests: XCTestCase {
    let shapes: [(inputs: Int, units: Int, batch: Int)] = [
        (37, 1, 5), (200, 10, 3), (48, 2, 16), (64, 7, 21), (33, 16, 17), (70, 37, 3), (45, 128, 16), (400, 300, 19), (19, 64, 33), (600, 20, 11),
    ]

    func testForwardMatchesTheScalarOrder() throws {
        var rng = KernelTestValues(seed: 9)
        // One unit is a dot product in vector lanes, then their sum: KernelVariantTests checks it.
        for (inputs, units, batch) in shapes where units > 1 {
            let x = rng.next(batch * inputs), w = rng.next(inputs * units), b = rng.next(units)
            var expected = [Float](repeating: 0, count: batch * units)
            for n in 0..<batch {
                for u in 0..<units {
                    var total = b[u]
                    for i in 0..<inputs { total += x[n * inputs + i] * w[i * units + u] }
                    expected[n * units + u] = total
                }
            }
            for set in [BP_BASELINE, BP_AVX2, BP_AVX512] {
                guard let k = bp_kernels_for(set)?.pointee else { continue }
                var y = [Float](repeating: .nan, count: batch * units)
                k.dense_forward(inputs, units, x, &y, w, b, batch)
                assertSameBits(y, expected, "\(String(cString: k.name)) \(inputs)x\(units), batch \(batch): output")
            }
        }
    }

    func testBackwardMatchesTheScalarOrder() throws {
        var rng = KernelTestValues(seed: 5)
        for (inputs, units, batch) in shapes {
            let x = rng.next(batch * inputs), g = rng.next(batch * units), w = rng.next(inputs * units)
            let startKernel = rng.next(inputs * units), startBias = rng.next(units)

            var kernel = startKernel, bias = startBias
            var input = [Float](repeating: 0, count: batch * inputs)
            for n in 0..<batch {
                for u in 0..<units { bias[u] += g[n * units + u] }
            }
            // One unit or over 16, each sample's product is added onto the value in order; from 2 to 16,
            // the products are summed from zero, then added once.
            let sumsFromZero = units > 1 && units <= 16
            for i in 0..<inputs {
                for u in 0..<units {
                    var total: Float = sumsFromZero ? 0 : kernel[i * units + u]
                    for n in 0..<batch { total += x[n * inputs + i] * g[n * units + u] }
                    kernel[i * units + u] = sumsFromZero ? kernel[i * units + u] + total : total
                }
            }
            for n in 0..<batch {
                for i in 0..<inputs {
                    var total = w[i * units] * g[n * units]
                    for u in 1..<max(units, 1) { total += w[i * units + u] * g[n * units + u] }
                    input[n * inputs + i] = total
                }
            }

            for set in [BP_BASELINE, BP_AVX2, BP_AVX512] {
                guard let k = bp_kernels_for(set)?.pointee else { continue }
                var kernelGradient = startKernel, biasGradient = startBias
                var inputGradient = [Float](repeating: .nan, count: batch * inputs)
                k.dense_backward(inputs, units, x, g, &inputGradient, w, &kernelGradient, &biasGradient, batch)
                let name = "\(String(cString: k.name)) \(inputs)x\(units), batch \(batch)"
                assertSameBits(biasGradient, bias, "\(name): bias gradient")
                assertSameBits(kernelGradient, kernel, "\(name): kernel gradient")
                assertSameBits(inputGradient, input, "\(name): input gradient")
            }
        }
    }
}
