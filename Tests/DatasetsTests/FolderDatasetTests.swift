import Datasets
import Foundation
import XCTest

/// `folder:DIR` datasets, read from real JPEG and PNG files that Pillow wrote.
final class FolderDatasetTests: XCTestCase {
    // MARK: - Decoding and resizing

    func testPNGMatchesPillowsResizeExactly() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for name, im in [("shrink", rgb(61, 47, 1)), ("grow", rgb(9, 13, 2))]:
                mkdirs(f"f/{name}/x.png"); im.save(f"f/{name}/x.png")
                save_raw(im.resize((24, 20), Image.BILINEAR), f"{name}-rgb.raw")
                save_raw(im.convert("L").resize((24, 20), Image.BILINEAR), f"{name}-gray.raw")
            """, in: directory)
        for color in ImageFormat.Color.allCases {
            let data = try load(directory + "/f", ImageFormat(height: 20, width: 24, color: color))
            XCTAssertEqual(data.classNames, ["grow", "shrink"])
            XCTAssertEqual(data.train.channels, color.channels)
            let suffix = color == .rgb ? "rgb" : "gray"
            XCTAssertEqual(image(data.train, label: 1), try bytes(directory, "shrink-\(suffix).raw"), "\(color) shrink")
            XCTAssertEqual(image(data.train, label: 0), try bytes(directory, "grow-\(suffix).raw"), "\(color) grow")
        }
    }

    func testEveryPNGAndJPEGKindDecodesLikePillow() throws {
        let directory = try makeTemporaryDirectory()
        // Each kind in its own class folder; the reference is Pillow's decode, made RGB, then resized. For JPEG,
        // Pillow's draft mode picks the DCT scale as Backprop does: the smallest that keeps the target size.
        try ImageFixtures.run("""
            base = rgb(83, 64, 3)
            gray16 = Image.fromarray((np.asarray(base.convert("L")).astype(np.uint16) * 257 + 113).clip(0, 65535).astype(np.uint16))
            alpha = base.copy(); alpha.putalpha(Image.fromarray((np.arange(83 * 64) % 256).reshape(64, 83).astype(np.uint8)))
            kinds = {
                "png-rgb": (base, {}), "png-gray": (base.convert("L"), {}), "png-gray16": (gray16, {}),
                "png-palette": (base.convert("P", palette=Image.ADAPTIVE, colors=64), {}),
                "png-rgba": (alpha, {}), "png-gray-alpha": (alpha.convert("LA"), {}),
                "jpg-baseline": (base, {"quality": 95}), "jpg-progressive": (base, {"quality": 95, "progressive": True}),
                "jpg-gray": (base.convert("L"), {"quality": 95}), "jpg-cmyk": (base.convert("CMYK"), {"quality": 95}),
            }
            for name, (im, options) in kinds.items():
                path = f"f/{name}/x.{name[:3]}"
                mkdirs(path); im.save(path, **options)
                decoded = Image.open(path)
                if name.startswith("jpg"): decoded.draft(decoded.mode, (28, 28))
                if decoded.mode == "I;16":
                    decoded = Image.fromarray(((np.asarray(decoded).astype(np.uint32) + 128) // 257).astype(np.uint8))
                save_raw(decoded.convert("RGB").resize((28, 28), Image.BILINEAR), f"{name}.raw")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat(height: 28, width: 28, color: .rgb))
        XCTAssertEqual(data.train.count, 10)
        XCTAssertEqual(data.folderReport?.skipped, [])
        for (label, name) in (data.classNames ?? []).enumerated() {
            let ours = image(data.train, label: label), pillow = try bytes(directory, "\(name).raw")
            XCTAssertEqual(ours.count, pillow.count)
            let differences = zip(ours, pillow).map { abs(Int($0) - Int($1)) }
            let mean = Double(differences.reduce(0, +)) / Double(differences.count)
            if name.hasPrefix("png") {
                XCTAssertEqual(ours, pillow, name)
            } else {
                // Pillow's libjpeg-turbo gives the same bits here; another version may round an IDCT differently.
                XCTAssertLessThan(mean, 0.05, name)
                XCTAssertLessThanOrEqual(differences.max() ?? 0, 2, name)
            }
        }
    }

    func testLargeJPEGIsDecodedAtAReducedScaleAndStaysClose() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            im = rgb(640, 480, 4).resize((640, 480), Image.BILINEAR)
            for c in ("a", "b"):
                mkdirs(f"f/{c}/x.jpg"); im.save(f"f/{c}/x.jpg", quality=92)
            save_raw(Image.open("f/a/x.jpg").convert("L").resize((28, 28), Image.BILINEAR), "ref.raw")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        let ours = image(data.train, label: 0), pillow = try bytes(directory, "ref.raw")
        let differences = zip(ours, pillow).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThan(Double(differences.reduce(0, +)) / Double(differences.count), 3.0)
    }

    // MARK: - Layouts

    func testTrainAndTestFoldersWithSortedClasses() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for split, n in (("train", 4), ("test", 2)):
                for value, c in ((0, "dog"), (255, "cat"), (128, "bird")):
                    for i in range(n):
                        mkdirs(f"f/{split}/{c}/{i}.png"); solid(30, 20, value).save(f"f/{split}/{c}/{i}.png")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        XCTAssertEqual(data.classNames, ["bird", "cat", "dog"])
        XCTAssertEqual(data.train.count, 12)
        XCTAssertEqual(data.test.count, 6)
        XCTAssertEqual(data.folderReport?.hasTestSet, true)
        XCTAssertTrue(data.train.isMapped)
        let values: [UInt8] = [128, 255, 0]
        let pixels = data.train.pixels
        for index in 0..<data.train.count {
            XCTAssertEqual(pixels[index * 784], values[Int(data.train.labels[index])])
        }
    }

    func testClassFoldersWithoutSplitsAreTheTrainingSet() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in ("b", "a"):
                for i in range(3):
                    mkdirs(f"f/{c}/sub/{i}.JPG"); solid(8, 8, 9).save(f"f/{c}/sub/{i}.JPG", "JPEG")
            open("f/a/notes.txt", "w").write("not an image")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        XCTAssertEqual(data.classNames, ["a", "b"])
        XCTAssertEqual(data.train.count, 6)
        XCTAssertEqual(data.test.count, 0)
        XCTAssertEqual(data.folderReport?.hasTestSet, false)
    }

    func testKaggleFlatNaming() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            os.makedirs("f")
            for i in range(3): solid(10, 10, 0).save(f"f/cat.{i}.jpg")
            for i in range(2): solid(10, 10, 255).save(f"f/dog.{i}.jpg")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        XCTAssertEqual(data.classNames, ["cat", "dog"])
        XCTAssertEqual(data.train.labels.sorted(), [0, 0, 0, 1, 1])
    }

    func testSeededOrderAndLimit() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in range(2):
                for i in range(20):
                    mkdirs(f"f/c{c}/{i}.png"); solid(4, 4, c * 100 + i).save(f"f/c{c}/{i}.png")
            """, in: directory)
        let one = try load(directory + "/f", ImageFormat(), seed: 1)
        let again = try load(directory + "/f", ImageFormat(), seed: 1)
        let other = try load(directory + "/f", ImageFormat(), seed: 2)
        XCTAssertEqual(one.train.pixels, again.train.pixels)
        XCTAssertNotEqual(one.train.pixels, other.train.pixels)
        XCTAssertEqual(Set(one.train.pixels), Set(other.train.pixels))
        let limited = try load(directory + "/f", ImageFormat(), seed: 1, trainLimit: 7)
        XCTAssertEqual(limited.train.pixels, Array(one.train.pixels.prefix(7 * 784)))
        // Keras's validation split: the last fraction of the seeded order.
        let (train, validation) = try one.splittingValidation(0.25)
        XCTAssertEqual(train.count, 30)
        XCTAssertEqual(validation.pixels, Array(one.train.pixels.suffix(10 * 784)))
    }

    // MARK: - Bad input

    func testBadFilesAreSkippedAndNamed() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            mkdirs("f/a/x"); mkdirs("f/b/x")
            rgb(40, 40, 5).save("f/a/good.png"); rgb(40, 40, 6).save("f/a/good.jpg"); rgb(40, 40, 7).save("f/b/good.png")
            jpg = open("f/a/good.jpg", "rb").read(); png = open("f/a/good.png", "rb").read()
            open("f/a/empty.jpg", "wb").close()
            open("f/a/text.jpg", "w").write("this is not a picture")
            open("f/a/cut.jpg", "wb").write(jpg[:len(jpg) // 2])
            open("f/a/cut-late.jpg", "wb").write(jpg[:len(jpg) - 200])
            open("f/a/cut.png", "wb").write(png[:len(png) // 2])
            damaged = bytearray(png); damaged[len(png) // 2] ^= 0xFF
            open("f/b/damaged.png", "wb").write(bytes(damaged))
            open("f/b/header-only.png", "wb").write(png[:33])
            os.symlink("/nonexistent/picture.png", "f/b/gone.png")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        let skipped = data.folderReport?.skipped ?? []
        XCTAssertEqual(data.train.count, 3, "\(skipped)")
        XCTAssertEqual(skipped.map(\.path), ["a/cut-late.jpg", "a/cut.jpg", "a/cut.png", "a/empty.jpg", "a/text.jpg",
                                             "b/damaged.png", "b/gone.png", "b/header-only.png"])
        let reasons = Dictionary(uniqueKeysWithValues: skipped.map { ($0.path, $0.reason) })
        XCTAssertEqual(reasons["a/empty.jpg"], "empty file")
        XCTAssertEqual(reasons["a/text.jpg"], "not a JPEG or PNG file (it starts with 74 68 69 73)")
        XCTAssertTrue(reasons["a/cut.jpg"]?.contains("JPEG") ?? false, reasons["a/cut.jpg"] ?? "")
        XCTAssertTrue(reasons["a/cut-late.jpg"]?.contains("truncated JPEG: Premature end of JPEG file") ?? false, reasons["a/cut-late.jpg"] ?? "")
        XCTAssertTrue(reasons["a/cut.png"]?.contains("PNG") ?? false, reasons["a/cut.png"] ?? "")
        XCTAssertTrue(reasons["b/gone.png"]?.hasPrefix("cannot read") ?? false, reasons["b/gone.png"] ?? "")
        // The second load reads the same verdicts from the cache.
        let again = try load(directory + "/f", ImageFormat())
        XCTAssertEqual(again.folderReport?.decoded, 0)
        XCTAssertEqual(again.folderReport?.skipped, skipped)
    }

    func testUnreadableFileIsSkipped() throws {
        try XCTSkipIf(getuid() == 0, "root reads files whatever their mode")
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in ("a", "b"): mkdirs(f"f/{c}/x"); solid(5, 5, 1).save(f"f/{c}/1.png")
            solid(5, 5, 1).save("f/a/locked.png"); os.chmod("f/a/locked.png", 0)
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        XCTAssertEqual(data.folderReport?.skipped.map(\.path), ["a/locked.png"])
    }

    func testFoldersThatCannotTrainStopWithOneLine() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            mkdirs("one/cat/x"); solid(5, 5, 1).save("one/cat/1.png")
            for s, cs in (("train", ("cat", "dog")), ("test", ("cat", "bird"))):
                for c in cs: mkdirs(f"mismatch/{s}/{c}/x"); solid(5, 5, 1).save(f"mismatch/{s}/{c}/1.png")
            for c in ("cat", "dog"): mkdirs(f"broken/{c}/x"); open(f"broken/{c}/1.jpg", "w").write("text")
            os.makedirs("empty"); open("plain.png", "w").write("x")
            for c in range(257): os.makedirs(f"many/c{c:03d}")
            mkdirs("huge/a/x"); mkdirs("huge/b/x"); solid(4, 4, 0).save("huge/a/small.png")
            # A valid PNG header claiming 20000x20000 pixels: refused before any memory is taken for it.
            import zlib, struct
            def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
            open("huge/b/bomb.png", "wb").write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b""))
            """, in: directory)
        assertDatasetError(try load(directory + "/missing", ImageFormat()), mentions: ["missing: no such directory"])
        assertDatasetError(try load(directory + "/plain.png", ImageFormat()), mentions: ["plain.png: not a directory"])
        assertDatasetError(try load(directory + "/empty", ImageFormat()), mentions: ["empty: no classes"])
        assertDatasetError(try load(directory + "/one", ImageFormat()), mentions: ["only one class (cat)"])
        assertDatasetError(try load(directory + "/mismatch", ImageFormat()),
                           mentions: ["different classes", "only in train/: dog", "only in test/: bird"])
        assertDatasetError(try load(directory + "/many", ImageFormat()), mentions: ["257 class folders; at most 256"])
        assertDatasetError(try Dataset.load(.folder(directory: directory + "/empty"), imageCacheDirectory: "/proc/no-cache-here"),
                           mentions: ["empty: no classes"])
        assertDatasetError(try Dataset.load(.folder(directory: directory + "/huge"), imageCacheDirectory: "/proc/no-cache-here"),
                           mentions: ["/proc/no-cache-here", "cannot write the image cache"])
        let huge = try load(directory + "/huge", ImageFormat())
        XCTAssertEqual(huge.folderReport?.skipped.first?.reason, "PNG of 20000x20000 pixels is too large (at most 67108864 pixels are decoded)")
        assertDatasetError(try load(directory + "/broken", ImageFormat()),
                           mentions: ["no usable training images (2 files could not be decoded", "cat/1.jpg: not a JPEG or PNG"])
    }

    func testEmptyClassFolderKeepsItsClass() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in ("a", "c"): mkdirs(f"f/{c}/x"); solid(5, 5, 1).save(f"f/{c}/1.png")
            os.makedirs("f/b")
            """, in: directory)
        let data = try load(directory + "/f", ImageFormat())
        XCTAssertEqual(data.classNames, ["a", "b", "c"])
        XCTAssertEqual(data.train.classCount, 3)
        XCTAssertEqual(data.folderReport?.emptyClasses, ["b"])
    }

    // MARK: - The cache

    func testCacheIsReusedAndFollowsChanges() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in ("a", "b"):
                for i in range(5): mkdirs(f"f/{c}/x"); rgb(20, 20, i).save(f"f/{c}/{i}.png")
            """, in: directory)
        let folder = directory + "/f"
        let progress = ProgressLog()
        let first = try Dataset.load(.folder(directory: folder), images: ImageFormat(), progress: { progress.append($0) })
        XCTAssertEqual(first.folderReport?.decoded, 10)
        XCTAssertEqual(progress.last?.done, 10)
        XCTAssertEqual(progress.last?.total, 10)
        // Beside the folder, not in it: a tool that reads the class folders does not see a class more.
        let cachePath = try XCTUnwrap(first.folderReport?.cachePath)
        XCTAssertTrue(cachePath.hasPrefix(directory + "/.backprop-cache/f-") && cachePath.hasSuffix("/28x28-grayscale.images"), cachePath)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(), ["a", "b"])
        XCTAssertTrue(first.folderReport?.decoder.hasPrefix("libjpeg-turbo ") ?? false)
        XCTAssertTrue(first.folderReport?.decoder.contains(", libpng ") ?? false)

        let second = try load(folder, ImageFormat())
        XCTAssertEqual(second.folderReport?.decoded, 0)
        XCTAssertEqual(second.train.pixels, first.train.pixels)

        // A changed file is decoded again, alone; a removed one drops out without a decode.
        try ImageFixtures.run("rgb(20, 20, 99).save('f/a/2.png'); os.utime('f/a/2.png', ns=(1, 2))", in: directory)
        let changed = try load(folder, ImageFormat())
        XCTAssertEqual(changed.folderReport?.decoded, 1)
        XCTAssertNotEqual(changed.train.pixels, first.train.pixels)
        try FileManager.default.removeItem(atPath: folder + "/b/4.png")
        let removed = try load(folder, ImageFormat())
        XCTAssertEqual(removed.folderReport?.decoded, 0)
        XCTAssertEqual(removed.train.count, 9)

        // Another size or colour is another cache.
        let rgb = try load(folder, ImageFormat(height: 16, width: 12, color: .rgb))
        XCTAssertEqual(rgb.folderReport?.decoded, 9)
        XCTAssertEqual(rgb.train.sampleSize, 16 * 12 * 3)
    }

    func testDamagedCacheIsRebuilt() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in ("a", "b"): mkdirs(f"f/{c}/x"); rgb(20, 20, 1).save(f"f/{c}/1.png")
            """, in: directory)
        let first = try load(directory + "/f", ImageFormat())
        let pixels = first.train.pixels
        let cache = try XCTUnwrap(first.folderReport?.cachePath)
        // Damage a copy put in place by rename: truncating the mapped file itself would take its pages from under `first`.
        for damage in [Data(), Data("BPIMAGES garbage".utf8), Data(repeating: 7, count: 5000)] {
            try damage.write(to: URL(fileURLWithPath: cache), options: .atomic)
            let again = try load(directory + "/f", ImageFormat())
            XCTAssertEqual(again.folderReport?.decoded, 2)
            XCTAssertEqual(again.train.pixels, pixels)
        }
    }

    func testCacheDirectoryCanBeElsewhere() throws {
        let directory = try makeTemporaryDirectory()
        try ImageFixtures.run("""
            for c in ("a", "b"): mkdirs(f"f/{c}/x"); rgb(20, 20, 1).save(f"f/{c}/1.png")
            """, in: directory)
        let data = try Dataset.load(.folder(directory: directory + "/f"), images: ImageFormat(), imageCacheDirectory: directory + "/cache")
        XCTAssertEqual(data.folderReport?.cachePath, directory + "/cache/28x28-grayscale.images")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/f/.backprop-cache"))
    }

    // MARK: - Helpers

    private func load(_ folder: String, _ format: ImageFormat, seed: UInt64 = 1, trainLimit: Int? = nil) throws -> Dataset {
        try Dataset.load(.folder(directory: folder), trainLimit: trainLimit, images: format, seed: seed)
    }

    /// The bytes of the first sample of `set` with `label`.
    private func image(_ set: ImageSet, label: Int) -> [UInt8] {
        guard let index = set.labels.firstIndex(of: UInt8(label)) else { return [] }
        return Array(set.pixels[index * set.sampleSize..<(index + 1) * set.sampleSize])
    }
}

/// Progress reports, collected from any thread.
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var reports: [DecodeProgress] = []

    func append(_ report: DecodeProgress) {
        lock.withLock { reports.append(report) }
    }

    var last: DecodeProgress? {
        lock.withLock { reports.max { $0.done < $1.done } }
    }
}
