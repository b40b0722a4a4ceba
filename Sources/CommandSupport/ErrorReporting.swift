import ArgumentParser
import Foundation

/// Runs `body`; a library error becomes one line on stderr and exit code 1, never a stack trace.
public func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// The run directory a `--resume` path belongs to: the path itself, or the directory of a checkpoint file.
public func runDirectory(of path: String) -> String? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
    return isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
}
