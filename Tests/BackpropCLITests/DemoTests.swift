import XCTest

final class DemoTests: XCTestCase {
    /// Asserts `rows` is the full truth table of `gate`: the four inputs in order, the right targets, predictions and marks.
    private func assertLearned(
        _ rows: [TruthTableRow], gate: (Int, Int) -> Int, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(rows.map(\.inputs), gateInputs, "the table's inputs", file: file, line: line)
        for row in rows where row.inputs.count == 2 {
            let truth = gate(row.inputs[0], row.inputs[1])
            XCTAssertEqual(row.target, truth, "target for \(row.inputs)", file: file, line: line)
            XCTAssertEqual(row.predicted, truth, "prediction for \(row.inputs)", file: file, line: line)
            XCTAssertEqual(row.mark, "ok", "mark for \(row.inputs)", file: file, line: line)
        }
    }

    func testPerceptronLearnsOR() throws {
        let result = backprop(["demo", "perceptron"])
        assertSucceeded(result)
        XCTAssertTrue(result.stdout.contains("Perceptron learning OR"), result.stdout)
        let rows = try truthTableRows(in: result.stdout)
        XCTAssertEqual(rows.count, 4, result.stdout)
        assertLearned(rows, gate: { $0 | $1 })
        // It stops after the first epoch without mistakes.
        let epochs = nonEmptyLines(result.stdout).filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("epoch ") }
        XCTAssertEqual(epochs.last?.hasSuffix(": 0 mistakes"), true, result.stdout)
        XCTAssertEqual(epochs.dropLast().filter { $0.hasSuffix(": 0 mistakes") }, [], "it went on after converging")
    }

    func testPerceptronLearnsAND() throws {
        let result = backprop(["demo", "perceptron", "--gate", "and"])
        assertSucceeded(result)
        XCTAssertTrue(result.stdout.contains("Perceptron learning AND"), result.stdout)
        let rows = try truthTableRows(in: result.stdout)
        XCTAssertEqual(rows.count, 4, result.stdout)
        assertLearned(rows, gate: { $0 & $1 })
    }

    func testPerceptronRefusesXORAndBadRates() {
        assertUsageError(backprop(["demo", "perceptron", "--gate", "xor"]), naming: "--gate")
        assertUsageError(backprop(["demo", "perceptron", "--gate", "nand"]), naming: "--gate")
        assertUsageError(backprop(["demo", "perceptron", "--lr", "0"]), naming: "--lr")
    }

    func testXORDefeatsAPerceptronButNotATwoLayerNetwork() throws {
        let result = backprop(["demo", "xor"])
        assertSucceeded(result)
        let output = result.stdout
        let split = try XCTUnwrap(output.range(of: "\n2. "), "no second section in:\n\(output)")
        let perceptron = try truthTableRows(in: String(output[..<split.lowerBound]))
        let network = try truthTableRows(in: String(output[split.lowerBound...]))

        XCTAssertEqual(perceptron.map(\.inputs), gateInputs, output)
        XCTAssertEqual(perceptron.map(\.target), [0, 1, 1, 0], output)
        let wrong = perceptron.filter { $0.predicted != $0.target }
        XCTAssertGreaterThanOrEqual(wrong.count, 1, "a single perceptron cannot get XOR right:\n\(output)")
        for row in perceptron {
            XCTAssertEqual(row.mark, row.predicted == row.target ? "ok" : "WRONG", "row \(row.inputs) is marked wrongly")
        }
        XCTAssertTrue(output.contains("\(wrong.count) of 4 are wrong."), "the count of wrong rows disagrees with the table:\n\(output)")

        XCTAssertEqual(network.count, 4, output)
        assertLearned(network, gate: { $0 ^ $1 })
        for row in network {
            let p = try XCTUnwrap(row.probability, "no probability for \(row.inputs)")
            XCTAssertEqual(p > 0.5 ? 1 : 0, row.predicted, "p = \(p) disagrees with the prediction for \(row.inputs)")
        }
    }
}
