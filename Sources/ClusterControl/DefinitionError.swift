/// A cluster definition that cannot be used, with the place: `cluster/local.conf:24: unknown key 'EPOCS' (…)`.
public struct DefinitionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file as the user named it.
    public var file: String
    /// The line the problem is on; nil when it is about the file as a whole.
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line.map { "\($0):" } ?? "") \(message)" }
}
