import ArgumentParser
import CommandSupport
import Datasets
import Foundation

struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or clear the image caches that folder: data is decoded into.",
        discussion: """
            A folder's images are decoded once per size and colour into a cache file of height x width x channels \
            bytes per image, in $BACKPROP_CACHE_DIR, else $XDG_CACHE_HOME/backprop, else ~/.cache/backprop \
            (--cache-dir names another).
            """,
        subcommands: [List.self, Clear.self]
    )

    /// The cache directory the subcommands look in.
    struct Location: ParsableArguments {
        @Option(help: ArgumentHelp("The image cache directory (default: $BACKPROP_CACHE_DIR, else $XDG_CACHE_HOME/backprop, else ~/.cache/backprop).", valueName: "DIR"))
        var cacheDir: String?

        var directory: ImageCacheDirectory { cacheDir.map(ImageCacheDirectory.init(path:)) ?? .standard }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List each cache file: its data folder, image size, colour, images, bytes and last use.")

        @OptionGroup var location: Location

        func run() {
            let directory = location.directory
            let entries = directory.entries()
            guard !entries.isEmpty else { return print("no image caches in \(directory.path)") }
            let rows = [["DATA FOLDER", "SIZE", "COLOUR", "IMAGES", "BYTES", "LAST USE", "FILE"]] + entries.map { entry in
                [entry.dataFolder ?? "(unreadable)", entry.size ?? "-", entry.color ?? "-", entry.images.map(String.init) ?? "-",
                 Cache.bytes(entry.bytes), Cache.date(entry.lastUsed), entry.path]
            }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let cells = row.enumerated().map { column, cell in
                    let pad = String(repeating: " ", count: widths[column] - cell.count)
                    // Numbers right-aligned, the rest left; the last column unpadded.
                    if column == row.count - 1 { return cell }
                    return [3, 4].contains(column) ? pad + cell : cell + pad
                }
                print(cells.joined(separator: "  "))
            }
            let total = entries.reduce(0) { $0 + $1.bytes }
            print("\(entries.count) cache file\(entries.count == 1 ? "" : "s"), \(Cache.bytes(total)), in \(directory.path)")
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove cache files: all of them, or only those of one data folder, or only those not used for some days.",
            discussion: "With a data folder, also removes the cache an older Backprop wrote beside it (<parent>/.backprop-cache/). A run that has already loaded a cache keeps reading it; the next run decodes the folder again.")

        @OptionGroup var location: Location

        @Option(parsing: .unconditional, help: ArgumentHelp("Only the caches not used in the last DAYS days (fractions allowed).", valueName: "DAYS"))
        var olderThan: Double?

        @Argument(help: ArgumentHelp("Only the caches of this data folder (the DIR of folder:DIR).", valueName: "FOLDER"))
        var folder: String?

        func validate() throws {
            if let olderThan, !(olderThan >= 0 && olderThan.isFinite) {
                throw ValidationError("--older-than takes a number of days, 0 or more, got \(olderThan)")
            }
        }

        func run() throws {
            try runReportingErrors {
                let directory = location.directory
                var chosen = folder.map(directory.entries(of:)) ?? directory.entries()
                if let olderThan {
                    let cutoff = Date().timeIntervalSince1970 - olderThan * 86_400
                    chosen = chosen.filter { $0.lastUsed < cutoff }
                }
                let (removed, busy) = try directory.remove(chosen)
                let old = folder.map(ImageCacheDirectory.removeOldCaches(of:)) ?? []
                let freed = removed.reduce(0) { $0 + $1.bytes }
                let which = folder.map { " of \($0)" } ?? ""
                print("removed \(removed.count) cache file\(removed.count == 1 ? "" : "s")\(which) (\(Cache.bytes(freed))) from \(directory.path)")
                for entry in busy {
                    print("kept \(entry.path): a run is decoding into it")
                }
                if let first = old.first {
                    print("removed \(old.count) file\(old.count == 1 ? "" : "s") of an older Backprop's cache beside the folder, in \((first as NSString).deletingLastPathComponent)")
                }
            }
        }
    }

    /// `bytes` for people: 512 B, 1.5 KB, 19.6 MB, 2.3 GB (powers of 1000).
    static func bytes(_ bytes: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(bytes), unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    /// A time as `yyyy-MM-dd HH:mm`, local.
    static func date(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
