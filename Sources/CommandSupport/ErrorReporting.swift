import ArgumentParser
import Datasets
import Foundation

/// Runs `body`; a library error becomes one line on stderr and exit code 1, never a stack trace.
///
/// A usage error found only now — a `ValidationError`, or `--data` text that names no data source — is one
/// `error:` line too, with ArgumentParser's usage exit code, 64.
public func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode.validationFailure
    } catch let error as DatasetError {
        if case .badSource(let text) = error {
            FileHandle.standardError.write(Data("error: \(dataFlagProblem(text) ?? "\(error)")\n".utf8))
            throw ExitCode.validationFailure
        }
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
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
