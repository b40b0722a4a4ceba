// Writes one valid message of every kind, framed as WireDecoderFuzz.swift reads its input, as seeds.
import Foundation

@main
struct SeedWriter {
    static func main() throws {
        let directory = CommandLine.arguments.dropFirst().first ?? "corpus"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let report = GradientReport(microbatch: 1, samples: 8, lossSum: 2.5, correct: 6, computeSeconds: 0.01, values: [1, -2, 0.5, 3])
        let bodies: [Body] = [
            .join(name: "worker-1", pid: 42, model: "seed-cnn"), .welcome(configJSON: #"{"epochs":1}"#), .ready(sharedFile: nil), .ready(sharedFile: "/dev/shm/backprop-1-a-1-x"),
            .assignment(epoch: 1, microbatches: [MicrobatchRef(index: 0, positions: 0..<8), MicrobatchRef(index: 1, positions: 8..<16)], weights: [0, 1, 2, 3]),
            .assignment(epoch: 1, microbatches: [MicrobatchRef(index: 2, positions: 16..<24)], form: .held, weights: []),
            .assignment(epoch: 1, microbatches: [MicrobatchRef(index: 3, positions: 24..<32)], form: .bfloat16Step, weights: [0.5, -0.25, 0, 2]),
            .gradients(report), .heartbeat, .leave(reason: "finished"), .shutdown(reason: "done"), .error(reason: "no"), .rejoin(reason: "again"),
        ]
        for (index, body) in bodies.enumerated() {
            let frames = Message(runID: 7, sender: 2, step: 3, body: body).encoded()
            var input: [UInt8] = [UInt8(frames.count - 1), 1]
            for frame in frames.dropLast() {
                input += [UInt8(frame.count & 0xFF), UInt8(frame.count >> 8)] + frame
            }
            input += frames.last ?? []
            try Data(input).write(to: URL(fileURLWithPath: "\(directory)/seed-\(index)-\(body.kind)"))
        }
    }
}
