import CKernels
import XCTest

/// Every kernel variant this CPU can run (AVX-512, AVX2, the baseline) writes the same bits:
/// a cluster whose machines differ still computes one exact step.
final class KernelVariantTests: XCTestCase {
    func testEveryVariantComputesTheBaselineBits() throws {
        let baseline = try XCTUnwrap(bp_kernels_for(BP_BASELINE)).pointee
        let others = [BP_AVX2, BP_AVX512].compactMap { bp_kernels_for($0)?.pointee }
        if others.isEmpty { throw XCTSkip("this CPU runs only the baseline kernels") }
        let reference = outputs(of: baseline)
        XCTAssertFalse(reference.isEmpty)
        for variant in others {
            let mine = outputs(of: variant)
            XCTAssertEqual(mine.count, reference.count)
            for (name, values) in reference {
                assertSameBits(mine[name], values, "\(String(cString: variant.name)): \(name)")
            }
        }
    }

    func testTheLayersRunTheWidestVariantTheCPUHas() {
        let widest = [BP_AVX512, BP_AVX2, BP_BASELINE].lazy.compactMap { bp_kernels_for($0) }.first
        XCTAssertEqual(bp_kernels_best(), widest)
    }

    /// Each kernel's outputs on shapes that reach every path: odd filter counts, `same` borders,
    /// one and several channels, pools that leave a border, dense layers of 1, <16, 16 and >16 units.
    private func outputs(of k: bp_kernels) -> [String: [Float]] {
        var results: [String: [Float]] = [:]
        var values = KernelTestValues(seed: 7)
        let batch = 3
        let convs = [
            bp_conv_shape(height: 9, width: 8, channels: 3, filters: 19, kernel_size: 3, out_height: 9, out_width: 8, pad_before: 1),
            bp_conv_shape(height: 9, width: 8, channels: 3, filters: 35, kernel_size: 4, out_height: 9, out_width: 8, pad_before: 1),
            bp_conv_shape(height: 10, width: 9, channels: 1, filters: 32, kernel_size: 3, out_height: 8, out_width: 7, pad_before: 0),
            bp_conv_shape(height: 7, width: 7, channels: 16, filters: 64, kernel_size: 3, out_height: 5, out_width: 5, pad_before: 0),
        ]
        for (index, var shape) in convs.enumerated() {
            let inputCount = batch * shape.height * shape.width * shape.channels
            let outputCount = batch * shape.out_height * shape.out_width * shape.filters
            let kernelCount = shape.kernel_size * shape.kernel_size * shape.channels * shape.filters
            let x = values.next(inputCount), w = values.next(kernelCount), b = values.next(shape.filters)
            let g = values.next(outputCount)
            for relu in [0, 1] {
                var y = [Float](repeating: 0, count: outputCount)
                k.conv_forward(&shape, x, &y, w, b, Int32(relu), batch)
                results["conv\(index) forward relu=\(relu)"] = y
            }
            var kernelGradient = values.next(kernelCount), biasGradient = values.next(shape.filters)
            k.conv_backward_parameters(&shape, x, g, &kernelGradient, &biasGradient, batch)
            var inputGradient = [Float](repeating: 0, count: inputCount)
            var scratch = [Float](repeating: .nan, count: kernelCount + shape.channels)
            k.conv_backward_input(&shape, g, w, &inputGradient, &scratch, batch)
            results["conv\(index) backward"] = kernelGradient + biasGradient + inputGradient
        }

        var pool = bp_pool_shape(height: 9, width: 7, channels: 35, size: 2, out_height: 4, out_width: 3)
        let poolInput = values.next(batch * 9 * 7 * 35)
        var pooled = [Float](repeating: 0, count: batch * 4 * 3 * 35)
        k.maxpool_forward(&pool, poolInput, &pooled, batch)
        results["maxpool forward"] = pooled
        let poolGradient = values.next(pooled.count)
        for relu in [0, 1] {
            var dx = [Float](repeating: 1, count: poolInput.count)
            k.maxpool_backward(&pool, poolInput, pooled, poolGradient, &dx, Int32(relu), batch)
            results["maxpool backward relu=\(relu)"] = dx
        }

        let reluInput = values.next(101)
        var reluOutput = [Float](repeating: 0, count: 101), reluGradient = [Float](repeating: 0, count: 101)
        k.relu_forward(reluInput, &reluOutput, 101)
        k.relu_backward(reluOutput, values.next(101), &reluGradient, 101)
        results["relu"] = reluOutput + reluGradient

        for (inputs, units) in [(37, 1), (200, 10), (33, 16), (70, 37)] {
            let x = values.next(batch * inputs), w = values.next(inputs * units), b = values.next(units)
            var y = [Float](repeating: 0, count: batch * units)
            k.dense_forward(inputs, units, x, &y, w, b, batch)
            var kernelGradient = values.next(inputs * units), biasGradient = values.next(units)
            var inputGradient = [Float](repeating: 0, count: batch * inputs)
            k.dense_backward(inputs, units, x, values.next(batch * units), &inputGradient, w, &kernelGradient, &biasGradient, batch)
            results["dense \(inputs)x\(units)"] = y + kernelGradient + biasGradient + inputGradient
        }
        var parameters = values.next(103), m = values.next(103), v = values.next(103).map { $0 * $0 }
        k.adam_update(&parameters, values.next(103), &m, &v, 103, 0.003, 0.1, 0.001, 1e-7)
        results["adam"] = parameters + m + v
        return results
    }

    /// The Adam kernel rounds each operation as the formula is written, value by value.
    func testAdamKernelMatchesTheScalarFormula() throws {
        var values = KernelTestValues(seed: 3)
        let count = 37
        let gradients = values.next(count)
        let start = (parameters: values.next(count), m: values.next(count), v: values.next(count).map { $0 * $0 })
        let (alpha, b1, b2, epsilon): (Float, Float, Float, Float) = (0.002, 0.1, 0.001, 1e-7)
        var expected = start
        for i in 0..<count {
            let g = gradients[i]
            expected.m[i] = expected.m[i] + (g - expected.m[i]) * b1
            expected.v[i] = expected.v[i] + (g * g - expected.v[i]) * b2
            expected.parameters[i] = expected.parameters[i] - alpha * expected.m[i] / (expected.v[i].squareRoot() + epsilon)
        }
        for set in [BP_BASELINE, BP_AVX2, BP_AVX512] {
            guard let k = bp_kernels_for(set)?.pointee else { continue }
            var (parameters, m, v) = start
            k.adam_update(&parameters, gradients, &m, &v, count, alpha, b1, b2, epsilon)
            assertSameBits(parameters + m + v, expected.parameters + expected.m + expected.v, String(cString: k.name))
        }
    }
}
