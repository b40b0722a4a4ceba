import Foundation
import NeuralNet

/// Reads and writes checkpoint files; writes are atomic (temporary file, then rename).
public enum CheckpointFile {
    /// Writes `checkpoint` to `path` so that a crash leaves either the old file or the new one, never a torn one.
    public static func write(_ checkpoint: Checkpoint, for model: Model, to path: String) throws {
        let bytes = checkpoint.encoded(for: model)
        let temporary = path + ".tmp-\(getpid())"
        func fail(_ call: String) -> TrainingError {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return TrainingError.checkpoint(path: path, reason: "cannot write (\(call): \(reason)); the previous checkpoint is unchanged")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw fail("open") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + written, raw.count - written)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { close(fd); throw fail("write") }
            written += n
        }
        guard fsync(fd) == 0 else { close(fd); throw fail("fsync") }
        guard close(fd) == 0 else { throw fail("close") }
        guard rename(temporary, path) == 0 else { throw fail("rename") }
    }

    /// Reads the checkpoint at `path` (a file, or a run directory holding `checkpoint.safetensors`) and checks it fits `model`.
    public static func read(_ path: String, fitting model: Model) throws -> Checkpoint {
        let (file, bytes) = try contents(of: path)
        do {
            return try Checkpoint(decoding: bytes, fitting: model)
        } catch {
            throw TrainingError.checkpoint(path: file, reason: "\(error)")
        }
    }

    /// The model spec a checkpoint was saved from, read from its metadata.
    public static func recordedModel(_ path: String) throws -> String {
        let (file, bytes) = try contents(of: path)
        do {
            guard let spec = try SafeTensorsFile(decoding: bytes).metadata["model"], !spec.isEmpty else {
                throw TrainingError.checkpoint(path: file, reason: "no model recorded in the metadata; pass --model")
            }
            return spec
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.checkpoint(path: file, reason: "\(error)")
        }
    }

    /// Every metadata field of the checkpoint at `path` (a file, or a run directory holding `checkpoint.safetensors`).
    public static func metadata(_ path: String) throws -> [String: String] {
        let (file, bytes) = try contents(of: path)
        do {
            return try SafeTensorsFile(decoding: bytes).metadata
        } catch {
            throw TrainingError.checkpoint(path: file, reason: "\(error)")
        }
    }

    /// The file a checkpoint path names and its bytes.
    /// The checkpoint file `path` names: itself, or a run directory's `checkpoint.safetensors`.
    public static func location(of path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path as NSString).appendingPathComponent(RunDirectory.checkpointName)
        }
        return path
    }

    private static func contents(of path: String) throws -> (file: String, bytes: [UInt8]) {
        let file = location(of: path)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError.checkpoint(path: file, reason: FileManager.default.fileExists(atPath: file) ? "cannot read the file" : "no such file")
        }
        return (file, [UInt8](data))
    }
}
