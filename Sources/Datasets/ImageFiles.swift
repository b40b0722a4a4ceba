#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// Single image files decoded exactly as an image folder's are, for classifying them one by one.
public enum ImageFiles {
    /// The image at `path` decoded and resized to `format`: (height, width, channels) bytes.
    public static func decode(_ path: String, format: ImageFormat) throws(ImageProblem) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.loadRaw(path)
        } catch {
            if case let .unreadable(_, reason) = error { throw ImageProblem(path: path, reason: "cannot read: \(reason)") }
            throw ImageProblem(path: path, reason: "\(error)")
        }
        var pixels = [UInt8](repeating: 0, count: format.sampleSize)
        let decoder = ImageDecoder(format: format)
        try pixels.withUnsafeMutableBufferPointer { (output: inout UnsafeMutableBufferPointer<UInt8>) throws(ImageProblem) in
            try decoder.decode(bytes, path: path, into: output.baseAddress!)
        }
        return pixels
    }

    /// The images at `paths` decoded and resized to `format` on every core, in the order given.
    public static func decode(_ paths: [String], format: ImageFormat) -> [Result<[UInt8], ImageProblem>] {
        let results = UnsafeMutableBufferPointer<Result<[UInt8], ImageProblem>>.allocate(capacity: paths.count)
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            do throws(ImageProblem) {
                (slots.baseAddress! + index).initialize(to: .success(try decode(paths[index], format: format)))
            } catch {
                (slots.baseAddress! + index).initialize(to: .failure(error))
            }
        }
        defer { _ = results.deinitialize() }
        return Array(results)
    }

    /// The files to classify for `paths`: a file as given; for a directory, its JPEG and PNG files at any depth, sorted
    /// (names starting with a dot left out). A path that does not exist is kept, so that it is reported.
    public static func list(_ paths: [String]) -> [String] {
        var files: [String] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                files.append(path)
                continue
            }
            var found: [String] = []
            collect(in: path, into: &found)
            files += ImageFolder.sortedByBytes(found)
        }
        return files
    }

    private static func collect(in directory: String, into files: inout [String]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }
        for name in names {
            let path = ImageFolder.join(directory, name)
            var info = stat()
            if lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
                collect(in: path, into: &files)
            } else if let dot = name.lastIndex(of: "."),
                      ImageFolder.imageExtensions.contains(name[name.index(after: dot)...].lowercased()) {
                files.append(path)
            }
        }
    }
}
