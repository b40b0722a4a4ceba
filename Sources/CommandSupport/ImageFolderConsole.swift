import Datasets
import Foundation
import Synchronization
import Training

/// What people see of an image folder: the progress of its first decode and what it found.
public enum ImageFolderConsole {
    /// Files named when some are skipped.
    static let namedSkips = 3

    /// A progress reporter for a folder's first decode, writing to standard error: a line redrawn in place on a
    /// terminal, otherwise a line at every tenth.
    public static func progress(interactive: Bool = isatty(STDERR_FILENO) == 1) -> @Sendable (DecodeProgress) -> Void {
        let lastTenth = LastTenth()
        return { report in
            let rate = report.seconds > 0 ? Int((Double(report.done) / report.seconds).rounded()) : 0
            let line = "decoding images into the cache: \(report.done)/\(report.total) (\(rate) images/s)"
            let finished = report.done == report.total
            if interactive {
                FileHandle.standardError.write(Data("\r\(line)\(finished ? "\n" : "")".utf8))
            } else {
                let tenth = report.done * 10 / max(report.total, 1)
                let due = lastTenth.value.withLock { last in
                    guard tenth > last else { return false }
                    last = tenth
                    return true
                }
                if due { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
        }
    }

    /// Lines about the run's image folder: its classes, the cache, skipped files, empty classes, a missing test set.
    public static func notes(for run: PreparedRun) -> [String] {
        guard let report = run.folderReport, let classes = run.classNames else { return [] }
        var lines = ["\(run.dataName): \(classes.count) classes (\(classes.joined(separator: ", "))), "
                     + "\(report.files) image files, cache \(report.cachePath)"]
        if !report.skipped.isEmpty {
            let named = report.skipped.prefix(namedSkips).map(\.description).joined(separator: "; ")
            let more = report.skipped.count > namedSkips ? "; and \(report.skipped.count - namedSkips) more" : ""
            lines.append("skipped \(report.skipped.count) of \(report.files) files that could not be decoded: \(named)\(more)")
        }
        if !report.emptyClasses.isEmpty {
            lines.append("warning: no usable training images in class\(report.emptyClasses.count == 1 ? "" : "es") \(report.emptyClasses.joined(separator: ", "))")
        }
        if !report.hasTestSet {
            lines.append("no test set: the folder has no test/ subfolder (put train/<class>/ and test/<class>/ in it to have one)")
        }
        return lines
    }
}

/// The last tenth of a decode reported (none at the start), shared by the threads that decode.
private final class LastTenth: Sendable {
    let value = Mutex(0)
}
