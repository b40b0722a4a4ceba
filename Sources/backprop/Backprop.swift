import ArgumentParser

@main
struct Backprop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop",
        abstract: "Train small convolutional networks with hand-written backpropagation.",
        subcommands: [Train.self, Evaluate.self, Predict.self, Summary.self, Logs.self, Demo.self, Keys.self]
    )
}
