import CZlib

/// Decompresses gzip data read from `path`, member after member, growing the output as needed.
///
/// Zero padding after the last member is ignored, as gzip itself does. Damaged data, data cut
/// short and other bytes after the last member throw `.corruptGzip` naming the file.
func gunzip(_ compressed: [UInt8], path: String) throws(DatasetError) -> [UInt8] {
    var stream = z_stream()
    // Window bits 15 + 16: the largest window, gzip wrapper only.
    let started = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    guard started == Z_OK else {
        throw .corruptGzip(path: path, reason: "zlib could not start inflating (inflateInit2 returned \(started))")
    }
    defer { inflateEnd(&stream) }

    var output = [UInt8](repeating: 0, count: expectedSize(of: compressed))
    var produced = 0
    var consumed = 0
    let chunkLimit = Int(UInt32.max)

    while true {
        if produced == output.count {
            output.append(contentsOf: repeatElement(0, count: max(output.count, 1 << 16)))
        }
        let inputChunk = min(compressed.count - consumed, chunkLimit)
        let outputChunk = min(output.count - produced, chunkLimit)
        let status: Int32 = compressed.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                guard let inputBase = input.baseAddress, let outputBase = out.baseAddress else { return Z_BUF_ERROR }
                stream.next_in = UnsafeMutablePointer(mutating: inputBase + consumed)
                stream.avail_in = UInt32(inputChunk)
                stream.next_out = outputBase + produced
                stream.avail_out = UInt32(outputChunk)
                return inflate(&stream, Z_NO_FLUSH)
            }
        }
        consumed += inputChunk - Int(stream.avail_in)
        produced += outputChunk - Int(stream.avail_out)

        switch status {
        case Z_OK:
            continue
        case Z_STREAM_END:
            let rest = compressed[consumed...]
            if rest.allSatisfy({ $0 == 0 }) {
                output.removeLast(output.count - produced)
                return output
            }
            guard rest.starts(with: [0x1F, 0x8B]) else {
                throw .corruptGzip(path: path, reason: "\(rest.count) bytes of trailing garbage after the gzip data")
            }
            // Another gzip member follows, as `cat a.gz b.gz` produces.
            guard inflateReset(&stream) == Z_OK else {
                throw .corruptGzip(path: path, reason: "zlib could not reset between gzip members")
            }
        case Z_BUF_ERROR where consumed == compressed.count:
            throw .corruptGzip(
                path: path,
                reason: "truncated: the compressed data ends after \(compressed.count) bytes, mid-stream "
                    + "(\(produced) bytes decompressed so far)"
            )
        case Z_BUF_ERROR:
            continue
        case Z_DATA_ERROR:
            throw .corruptGzip(path: path, reason: zlibMessage(stream, fallback: "invalid compressed data"))
        case Z_NEED_DICT:
            throw .corruptGzip(path: path, reason: "the data needs a preset zlib dictionary")
        case Z_MEM_ERROR:
            throw .corruptGzip(path: path, reason: "zlib ran out of memory")
        default:
            throw .corruptGzip(path: path, reason: zlibMessage(stream, fallback: "zlib error \(status)"))
        }
    }
}

/// An output size to start from: the gzip trailer's length field (size mod 2^32), bounded by deflate's best ratio.
private func expectedSize(of compressed: [UInt8]) -> Int {
    let minimum = 1 << 16
    guard compressed.count >= 18 else { return minimum }
    let tail = compressed.suffix(4).map(Int.init)
    let stated = tail[0] | tail[1] << 8 | tail[2] << 16 | tail[3] << 24
    // Deflate never compresses better than about 1032:1; one spare byte lets the end arrive without growth.
    return max(minimum, min(stated, compressed.count * 1032) + 1)
}

/// zlib's own text for the last error, or `fallback`.
private func zlibMessage(_ stream: z_stream, fallback: String) -> String {
    guard let message = stream.msg else { return fallback }
    return String(cString: message)
}
