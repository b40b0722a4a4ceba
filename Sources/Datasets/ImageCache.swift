#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Synchronization

/// How far the decoding of a folder has got.
public struct DecodeProgress: Sendable {
    /// Files decoded (or found unusable) so far, of `total` to decode in this run.
    public let done: Int
    public let total: Int
    /// Seconds since decoding started.
    public let seconds: Double
}

/// A file of a folder's images decoded at one size and colour: a fixed header, raw pixels, and a
/// manifest saying which file each slot holds and with which decoder.
///
/// Layout (integers little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `BPIMAGES` |
/// | 8 | 4 | format version, 1 |
/// | 12 | 4 | zero |
/// | 16 | 8 | offset of the pixels (4096) |
/// | 24 | 8 | slots (one per manifest entry) |
/// | 32 | 8 | bytes per slot: height × width × channels |
/// | 40 | 8 | offset of the manifest (after the pixels) |
/// | 48 | 8 | bytes of the manifest |
/// | 56 | 8 | zero |
///
/// The manifest is a little-endian u32 byte count and that many bytes of JSON (`decoder`, `height`,
/// `width`, `color`, `root`, `classNames`, `hasTestSet`), then one record per slot: u8 split (0
/// train, 1 test), u8 flags (1: a problem follows), u16 zero, u32 class, i64 size, i64 mtime in ns,
/// u32 path length and the path (UTF-8, relative to the root), and with flag 1 a u32 length and the
/// problem's text. Slot i holds the image of record i as uint8 (height, width, channels) bytes, row
/// by row, or zeros when the record has a problem. The file is written under a temporary name and
/// renamed into place, so a reader sees a whole cache or none; processes that share it map it
/// read-only and touch only the slots they read.
struct ImageCache {
    static let magic = Array("BPIMAGES".utf8)
    static let formatVersion: UInt32 = 1
    static let headerSize = 64
    static let pixelOffset = 4096

    /// What the cache holds; equal manifests mean the same pixels.
    struct Manifest: Equatable {
        /// `ImageDecoder.version` of the build that decoded the images.
        var decoder: String
        var height: Int
        var width: Int
        var color: String
        var root: String
        var classNames: [String]
        var hasTestSet: Bool
        /// entries[i] is slot i's file; `problem` says why it holds no image.
        var entries: [ImageFolder.Entry]

        /// The manifest's fields but the entries: its JSON part.
        private struct Header: Codable {
            var decoder: String
            var height: Int
            var width: Int
            var color: String
            var root: String
            var classNames: [String]
            var hasTestSet: Bool
        }

        /// The bytes described in `ImageCache`'s documentation.
        func encoded() throws -> [UInt8] {
            let header = Header(decoder: decoder, height: height, width: width, color: color, root: root,
                                classNames: classNames, hasTestSet: hasTestSet)
            let json = try JSONEncoder().encode(header)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(json.count + entries.count * 64)
            func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
            func put(_ text: String) {
                put(UInt32(text.utf8.count))
                bytes += text.utf8
            }
            put(UInt32(json.count))
            bytes += json
            for entry in entries {
                put(UInt8(entry.split == .train ? 0 : 1))
                put(UInt8(entry.problem == nil ? 0 : 1))
                put(UInt16(0))
                put(UInt32(entry.label))
                put(entry.size)
                put(entry.modified)
                put(entry.path)
                if let problem = entry.problem { put(problem) }
            }
            return bytes
        }

        /// Reads `count` records' manifest from `bytes`; nil when anything is malformed.
        init?(decoding bytes: UnsafeRawBufferPointer, count: Int) {
            var offset = 0
            func take<T: FixedWidthInteger>(_: T.Type) -> T? {
                guard offset + MemoryLayout<T>.size <= bytes.count else { return nil }
                defer { offset += MemoryLayout<T>.size }
                return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
            }
            func text() -> String? {
                guard let length = take(UInt32.self).map(Int.init), offset + length <= bytes.count else { return nil }
                defer { offset += length }
                return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
            }
            guard let length = take(UInt32.self).map(Int.init), offset + length <= bytes.count,
                  let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[offset..<offset + length]))
            else { return nil }
            offset += length
            var entries: [ImageFolder.Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                guard let split = take(UInt8.self), split <= 1, let flags = take(UInt8.self), flags <= 1,
                      take(UInt16.self) == 0, let label = take(UInt32.self),
                      let size = take(Int64.self), let modified = take(Int64.self), let path = text()
                else { return nil }
                var problem: String?
                if flags == 1 {
                    guard let reason = text() else { return nil }
                    problem = reason
                }
                entries.append(ImageFolder.Entry(path: path, split: split == 0 ? .train : .test, label: Int(label),
                                                 size: size, modified: modified, problem: problem))
            }
            guard offset == bytes.count else { return nil }
            self.init(decoder: header.decoder, height: header.height, width: header.width, color: header.color,
                      root: header.root, classNames: header.classNames, hasTestSet: header.hasTestSet, entries: entries)
        }

        init(decoder: String, height: Int, width: Int, color: String, root: String, classNames: [String],
             hasTestSet: Bool, entries: [ImageFolder.Entry]) {
            self.decoder = decoder
            self.height = height
            self.width = width
            self.color = color
            self.root = root
            self.classNames = classNames
            self.hasTestSet = hasTestSet
            self.entries = entries
        }
    }

    let path: String
    let manifest: Manifest
    /// The pixels, mapped read-only.
    let storage: PixelStorage

    /// The cache of `folder` at `format` at `path` if it exists and is current (same decoder, size,
    /// colour, classes, and every file's path, size and time); nil otherwise, and for any unreadable or damaged cache.
    static func openIfCurrent(_ path: String, folder: ImageFolder, format: ImageFormat) -> ImageCache? {
        guard let cache = open(path), cache.manifest.decoder == ImageDecoder.version,
              cache.manifest.height == format.height, cache.manifest.width == format.width,
              cache.manifest.color == format.color.rawValue, cache.manifest.classNames == folder.classNames,
              cache.manifest.hasTestSet == folder.hasTestSet,
              cache.manifest.entries.count == folder.entries.count,
              zip(cache.manifest.entries, folder.entries).allSatisfy({ sameFile($0, $1) })
        else { return nil }
        return cache
    }

    /// Maps the cache at `path` and reads its manifest; nil when it is missing, damaged or of another format.
    static func open(_ path: String) -> ImageCache? {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_size >= pixelOffset else { return nil }
        let length = Int(info.st_size)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else { return nil }
        let bytes = UnsafeRawBufferPointer(start: mapping, count: length)
        func field(_ offset: Int) -> Int { Int(truncatingIfNeeded: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))) }
        let version = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let pixels = field(16), slots = field(24), slotSize = field(32), manifestOffset = field(40), manifestSize = field(48)
        guard Array(bytes[0..<8]) == magic, version == formatVersion, pixels == pixelOffset,
              slots >= 0, slotSize > 0, slots <= (length - pixels) / slotSize,
              manifestOffset == pixels + slots * slotSize, manifestSize >= 0, manifestOffset + manifestSize == length,
              let manifest = Manifest(decoding: UnsafeRawBufferPointer(rebasing: bytes[manifestOffset..<length]), count: slots),
              let color = ImageFormat.Color(rawValue: manifest.color),
              manifest.height > 0, manifest.width > 0,
              manifest.height * manifest.width * color.channels == slotSize,
              manifest.entries.allSatisfy({ (0..<manifest.classNames.count).contains($0.label) })
        else {
            munmap(mapping, length)
            return nil
        }
        // Samples are read in a shuffled order: no readahead or fault-around, so a process maps only the pages of
        // the samples it reads.
        madvise(mapping, length, MADV_RANDOM)
        let storage = PixelStorage(mapping: mapping, length: length, offset: pixels, byteCount: slots * slotSize)
        return ImageCache(path: path, manifest: manifest, storage: storage)
    }

    /// Decodes `folder` at `format` into a new cache at `path`, on all cores, taking the slots of
    /// unchanged files from `previous` instead of decoding them again.
    static func build(
        _ folder: ImageFolder, format: ImageFormat, path: String, previous: ImageCache?,
        progress: (@Sendable (DecodeProgress) -> Void)?
    ) throws(DatasetError) -> (cache: ImageCache, decoded: Int) {
        let slotSize = format.sampleSize
        let count = folder.entries.count
        let manifestOffset = pixelOffset + count * slotSize
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = Glibc.open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cacheUnwritable(path: temporary, reason: String(cString: strerror(errno))) }
        var renamed = false
        defer {
            close(descriptor)
            if !renamed { unlink(temporary) }
        }
        guard ftruncate(descriptor, off_t(manifestOffset)) == 0 else {
            throw .cacheUnwritable(path: temporary, reason: String(cString: strerror(errno)))
        }

        // Which entries need decoding; the others are copied from the previous cache.
        var entries = folder.entries
        var reused: [Int: Int] = [:]
        if let previous, previous.manifest.decoder == ImageDecoder.version,
           previous.manifest.height == format.height, previous.manifest.width == format.width,
           previous.manifest.color == format.color.rawValue {
            var bySlot: [String: Int] = [:]
            for (slot, entry) in previous.manifest.entries.enumerated() { bySlot[entry.path] = slot }
            for (index, entry) in entries.enumerated() where entry.problem == nil {
                if let slot = bySlot[entry.path], sameStat(previous.manifest.entries[slot], entry) {
                    reused[index] = slot
                    entries[index].problem = previous.manifest.entries[slot].problem
                }
            }
        }
        let work = entries.indices.filter { entries[$0].problem == nil && reused[$0] == nil }

        if count > 0 {
            guard let mapping = mmap(nil, manifestOffset, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else {
                throw .cacheUnwritable(path: temporary, reason: String(cString: strerror(errno)))
            }
            defer { munmap(mapping, manifestOffset) }
            let slots = (mapping + pixelOffset).assumingMemoryBound(to: UInt8.self)
            if let previous {
                for (index, slot) in reused {
                    (slots + index * slotSize).update(from: previous.storage.base + slot * slotSize, count: slotSize)
                }
            }
            let problems = decode(work, of: entries, root: folder.root, format: format, into: slots, progress: progress)
            for (index, problem) in zip(work, problems) { entries[index].problem = problem }
        }

        let manifest = Manifest(
            decoder: ImageDecoder.version, height: format.height, width: format.width, color: format.color.rawValue,
            root: folder.root, classNames: folder.classNames, hasTestSet: folder.hasTestSet, entries: entries)
        let encoded: [UInt8]
        do {
            encoded = try manifest.encoded()
        } catch {
            throw .cacheUnwritable(path: temporary, reason: "cannot encode the manifest: \(error)")
        }
        var header = [UInt8](repeating: 0, count: headerSize)
        header.replaceSubrange(0..<8, with: magic)
        func put(_ value: Int, at offset: Int) {
            withUnsafeBytes(of: UInt64(value).littleEndian) { header.replaceSubrange(offset..<offset + 8, with: $0) }
        }
        withUnsafeBytes(of: formatVersion.littleEndian) { header.replaceSubrange(8..<12, with: $0) }
        put(pixelOffset, at: 16)
        put(count, at: 24)
        put(slotSize, at: 32)
        put(manifestOffset, at: 40)
        put(encoded.count, at: 48)
        try writeAll(encoded, to: descriptor, at: manifestOffset, path: temporary)
        try writeAll(header, to: descriptor, at: 0, path: temporary)
        guard fsync(descriptor) == 0, rename(temporary, path) == 0 else {
            throw .cacheUnwritable(path: path, reason: String(cString: strerror(errno)))
        }
        renamed = true
        guard let cache = open(path) else { throw .cacheUnwritable(path: path, reason: "the cache just written cannot be read back") }
        return (cache, work.count)
    }

    /// Decodes the entries at `indices` into their slots on every core; returns each one's problem (nil when it decoded).
    private static func decode(
        _ indices: [Int], of entries: [ImageFolder.Entry], root: String, format: ImageFormat,
        into slots: UnsafeMutablePointer<UInt8>, progress: (@Sendable (DecodeProgress) -> Void)?
    ) -> [String?] {
        let total = indices.count
        guard total > 0 else { return [] }
        let started = DispatchTime.now().uptimeNanoseconds
        let counters = Counters()
        let threads = min(ProcessInfo.processInfo.activeProcessorCount, total)
        let reportEvery = max(1, total / 100)
        let problems = UnsafeMutableBufferPointer<String?>.allocate(capacity: total)
        problems.initialize(repeating: nil)
        defer { problems.deallocate() }
        let slotSize = format.sampleSize
        nonisolated(unsafe) let output = slots
        nonisolated(unsafe) let results = problems
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let decoder = ImageDecoder(format: format)
            while true {
                let position = counters.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard position < total else { break }
                let entry = entries[indices[position]]
                let path = ImageFolder.join(root, entry.path)
                do throws(ImageProblem) {
                    let bytes = try readFile(path)
                    try decoder.decode(bytes, path: entry.path, into: output + indices[position] * slotSize)
                } catch {
                    results[position] = error.reason
                }
                let done = counters.done.wrappingAdd(1, ordering: .relaxed).newValue
                if let progress, done % reportEvery == 0 || done == total {
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                    progress(DecodeProgress(done: done, total: total, seconds: seconds))
                }
            }
        }
        return Array(problems)
    }

    /// The whole file, or the reason it cannot be read.
    private static func readFile(_ path: String) throws(ImageProblem) -> [UInt8] {
        do {
            return try FileContents.loadRaw(path)
        } catch {
            if case let .unreadable(_, reason) = error { throw ImageProblem(path: path, reason: "cannot read: \(reason)") }
            throw ImageProblem(path: path, reason: "\(error)")
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, at offset: Int, path: String) throws(DatasetError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                pwrite(descriptor, buffer.baseAddress! + written, buffer.count - written, off_t(offset + written))
            }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw .cacheUnwritable(path: path, reason: String(cString: strerror(errno))) }
            written += result
        }
    }

    /// The same file listed the same way: path, split, class, size and time.
    static func sameFile(_ a: ImageFolder.Entry, _ b: ImageFolder.Entry) -> Bool {
        a.path == b.path && a.split == b.split && a.label == b.label && sameStat(a, b)
    }

    private static func sameStat(_ a: ImageFolder.Entry, _ b: ImageFolder.Entry) -> Bool {
        a.size == b.size && a.modified == b.modified
    }

    private final class Counters: Sendable {
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
    }
}
