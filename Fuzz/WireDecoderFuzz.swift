// libFuzzer entry point for the wire decoder, built by scripts/fuzz with the Messaging/Wire*.swift sources.
//
// The input is cut into frames: byte 0 picks the frame count (1–4); every frame but the last is
// preceded by its length (2 bytes, little-endian, capped by what is left); the last frame takes
// the rest. Byte 1 picks the decoder's limits. Decoding must never trap, and anything it accepts
// must re-encode to exactly the frames it came from.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count >= 2 else { return 0 }
    let frameCount = Int(input[0] % 4) + 1
    var limits = MessageLimits(parameterCount: input[1] & 1 == 0 ? nil : 4)
    limits.maxBodyBytes = 4_096
    limits.maxElements = 1_024
    var frames: [[UInt8]] = []
    var at = 2
    for index in 0..<frameCount {
        if index == frameCount - 1 {
            frames.append(Array(input[min(at, input.count)...]))
        } else {
            guard at + 2 <= input.count else { return 0 }
            let length = min(Int(input[at]) | Int(input[at + 1]) << 8, input.count - at - 2)
            frames.append(Array(input[(at + 2)..<(at + 2 + length)]))
            at += 2 + length
        }
    }
    if let message = try? Message(frames: frames, limits: limits) {
        precondition(message.encoded() == frames, "accepted a message that does not re-encode to its frames: \(message)")
        _ = message.description
    }
    return 0
}
