/// Bounds on what `Message(frames:limits:)` accepts.
public struct MessageLimits: Sendable {
    /// Payload element count an assignment or gradients message must have exactly (the model's parameter count); nil = not known yet (then at most maxElements).
    public var parameterCount: Int?
    /// The most Float32 values a payload may hold.
    public var maxElements: Int = 50_000_000
    /// The largest body frame, in bytes.
    public var maxBodyBytes: Int = 1 << 20
    /// Bytes per value of a gradients payload: 4 (Float32), or 2 in a run whose gradients travel as bfloat16.
    public var gradientValueBytes = MemoryLayout<Float>.size

    /// Limits for a model of `parameterCount` parameters (nil before the model is known).
    public init(parameterCount: Int? = nil) {
        self.parameterCount = parameterCount
    }
}
