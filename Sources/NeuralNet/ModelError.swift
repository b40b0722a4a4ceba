/// Why a model could not be built or a checkpoint does not fit it.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case badSpec(String)
    case shapeMismatch(String)
    case lossMismatch(String)
    case checkpointMismatch(String)

    public var description: String {
        switch self {
        case .badSpec(let why): return "bad model spec: \(why)"
        case .shapeMismatch(let why): return "model shape error: \(why)"
        case .lossMismatch(let why): return "loss does not fit the model: \(why)"
        case .checkpointMismatch(let why): return "checkpoint does not fit the model: \(why)"
        }
    }
}
