import CPNG
import CTurboJPEG

/// How decoded images are stored: their size after resizing and their colour channels.
public struct ImageFormat: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Grayscale (1 channel) or RGB (3 channels).
    public enum Color: String, Sendable, CaseIterable {
        case grayscale, rgb

        /// Values per pixel.
        public var channels: Int { self == .rgb ? 3 : 1 }
    }

    public var height: Int
    public var width: Int
    public var color: Color

    /// The default of `--image-size` and `--color`: 28x28 grayscale, the size of the built-in images and MNIST.
    public init(height: Int = 28, width: Int = 28, color: Color = .grayscale) {
        self.height = height
        self.width = width
        self.color = color
    }

    /// The largest side `--image-size` accepts.
    public static let maximumSide = 4096

    /// Parses `--image-size` (`HxW`, e.g. `64x64`) and `--color` (`grayscale` or `rgb`); nil when either is malformed.
    public init?(size: String, color: String) {
        let parts = size.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let height = Int(parts[0]), let width = Int(parts[1]),
              (1...Self.maximumSide).contains(height), (1...Self.maximumSide).contains(width),
              let color = Color(rawValue: color)
        else { return nil }
        self.init(height: height, width: width, color: color)
    }

    /// Bytes per image: height * width * channels.
    public var sampleSize: Int { height * width * color.channels }

    /// `28x28 grayscale`.
    public var description: String { "\(height)x\(width) \(color.rawValue)" }
}

/// Why one image file could not be used; the run skips it and counts it.
public struct ImageProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Decodes JPEG (through libjpeg-turbo's TurboJPEG) and PNG (through libpng) files into bytes of an `ImageFormat`.
///
/// JPEG: baseline, progressive, grayscale, and CMYK/YCCK (converted to RGB as Adobe's inverted
/// CMYK: R = C·K / 255, the convention of the files Photoshop writes). When the target is at most
/// half the image's size, TurboJPEG decodes straight at a reduced scale (1/2, 1/4 or 1/8, in the
/// DCT), never below the target size. A file cut short is refused; other decoder warnings are not.
/// PNG: every colour type and bit depth (gray, palette, RGB, with or without alpha, 1 to 16 bits);
/// 16-bit samples are taken as they are stored (the high byte, rounded), alpha is dropped.
/// Grayscale from colour is ITU-R 601 luma with Pillow's rounding: (19595 R + 38470 G + 7471 B + 32768) >> 16;
/// then `Resampler` resizes to the target. One decoder per thread: it is not thread-safe.
final class ImageDecoder {
    /// The libraries and versions this build decodes with, recorded in every image cache.
    static let version: String = {
        let turbo = Int(LIBJPEG_TURBO_VERSION_NUMBER)
        let png = Int(png_access_version_number())
        return "libjpeg-turbo \(turbo / 1_000_000).\(turbo / 1000 % 1000).\(turbo % 1000), "
            + "libpng \(png / 10_000).\(png / 100 % 100).\(png % 100)"
    }()

    /// The most pixels a decode may hold at once (8192x8192): a PNG's whole size, a JPEG's after DCT scaling.
    /// A small file can claim a huge image; this bounds the memory it takes (256 MB of RGBA per thread).
    static let maximumPixels = 1 << 26

    let format: ImageFormat
    private var jpeg: tjhandle?

    init(format: ImageFormat) {
        self.format = format
        jpeg = tjInitDecompress()
    }

    deinit {
        if let jpeg { tjDestroy(jpeg) }
    }

    /// Decodes the file's `bytes` into `output` (format.sampleSize bytes); `path` only names it in a problem.
    func decode(_ bytes: [UInt8], path: String, into output: UnsafeMutablePointer<UInt8>) throws(ImageProblem) {
        guard !bytes.isEmpty else { throw ImageProblem(path: path, reason: "empty file") }
        let image: DecodedImage
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            do {
                image = try decodeJPEG(bytes, path: path)
            } catch {
                // A failed decode can leave TurboJPEG's state half-way through a file: start afresh.
                if let jpeg { tjDestroy(jpeg) }
                jpeg = tjInitDecompress()
                throw error
            }
        } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            image = try decodePNG(bytes, path: path)
        } else {
            let start = bytes.prefix(4).map { byte in String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }
            throw ImageProblem(path: path, reason: "not a JPEG or PNG file (it starts with \(start.joined(separator: " ")))")
        }
        image.pixels.withUnsafeBufferPointer { pixels in
            Resampler.resize(pixels.baseAddress!, height: image.height, width: image.width, channels: format.color.channels,
                             into: output, outputHeight: format.height, outputWidth: format.width)
        }
    }

    /// An image at its decoded size, in the target's channels.
    private struct DecodedImage {
        let height: Int
        let width: Int
        /// pixels: (height, width, channels of the target)
        let pixels: [UInt8]
    }

    // MARK: - JPEG

    private func decodeJPEG(_ bytes: [UInt8], path: String) throws(ImageProblem) -> DecodedImage {
        guard let jpeg else { throw ImageProblem(path: path, reason: "TurboJPEG could not start a decompressor") }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { buffer in
            tjDecompressHeader3(jpeg, buffer.baseAddress, UInt(buffer.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw ImageProblem(path: path, reason: "not a readable JPEG: \(jpegError())") }
        guard width > 0, height > 0 else { throw ImageProblem(path: path, reason: "JPEG with no pixels (\(width)x\(height))") }
        let scale = scalingFactor(width: Int(width), height: Int(height))
        let scaledWidth = Int((Int64(width) * Int64(scale.num) + Int64(scale.denom) - 1) / Int64(scale.denom))
        let scaledHeight = Int((Int64(height) * Int64(scale.num) + Int64(scale.denom) - 1) / Int64(scale.denom))
        guard scaledWidth * scaledHeight <= Self.maximumPixels else {
            throw ImageProblem(path: path, reason: "JPEG of \(width)x\(height) pixels is too large (at most \(Self.maximumPixels) pixels are decoded)")
        }
        let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let pixelFormat: TJPF = cmyk ? TJPF_CMYK : (format.color == .rgb ? TJPF_RGB : TJPF_GRAY)
        let decodedChannels = cmyk ? 4 : format.color.channels
        var pixels = [UInt8](repeating: 0, count: scaledWidth * scaledHeight * decodedChannels)
        let status = bytes.withUnsafeBufferPointer { buffer in
            pixels.withUnsafeMutableBufferPointer { output in
                tjDecompress2(jpeg, buffer.baseAddress, UInt(buffer.count), output.baseAddress,
                              Int32(scaledWidth), 0, Int32(scaledHeight), Int32(pixelFormat.rawValue), 0)
            }
        }
        if status != 0 {
            let message = jpegError()
            // A warning still leaves a whole image, except when the data ran out before its end.
            if tjGetErrorCode(jpeg) != Int32(TJERR_WARNING.rawValue) || message.contains("Premature end") {
                throw ImageProblem(path: path, reason: "corrupt or truncated JPEG: \(message)")
            }
        }
        if cmyk {
            pixels = Self.rgbOrGray(fromInvertedCMYK: pixels, color: format.color)
        }
        return DecodedImage(height: scaledHeight, width: scaledWidth, pixels: pixels)
    }

    /// The smallest of TurboJPEG's scales (at most 1) that keeps both sides at least the target's.
    private func scalingFactor(width: Int, height: Int) -> tjscalingfactor {
        var count: Int32 = 0
        var best = tjscalingfactor(num: 1, denom: 1)
        guard let factors = tjGetScalingFactors(&count) else { return best }
        for factor in UnsafeBufferPointer(start: factors, count: Int(count)) where factor.num <= factor.denom {
            let scaledWidth = (width * Int(factor.num) + Int(factor.denom) - 1) / Int(factor.denom)
            let scaledHeight = (height * Int(factor.num) + Int(factor.denom) - 1) / Int(factor.denom)
            let smaller = factor.num * best.denom < best.num * factor.denom
            if scaledWidth >= format.width && scaledHeight >= format.height && smaller { best = factor }
        }
        return best
    }

    private func jpegError() -> String {
        guard let jpeg, let text = tjGetErrorStr2(jpeg) else { return "unknown TurboJPEG error" }
        return String(cString: text)
    }

    /// RGB (or its luma) from Adobe-style inverted CMYK: R = C·K/255, G = M·K/255, B = Y·K/255, rounded.
    private static func rgbOrGray(fromInvertedCMYK cmyk: [UInt8], color: ImageFormat.Color) -> [UInt8] {
        let count = cmyk.count / 4
        var output = [UInt8](repeating: 0, count: count * color.channels)
        for i in 0..<count {
            let k = UInt32(cmyk[4 * i + 3])
            let r = (UInt32(cmyk[4 * i]) * k + 127) / 255
            let g = (UInt32(cmyk[4 * i + 1]) * k + 127) / 255
            let b = (UInt32(cmyk[4 * i + 2]) * k + 127) / 255
            if color == .rgb {
                output[3 * i] = UInt8(r)
                output[3 * i + 1] = UInt8(g)
                output[3 * i + 2] = UInt8(b)
            } else {
                output[i] = luma(r, g, b)
            }
        }
        return output
    }

    /// ITU-R 601 luma with Pillow's rounding.
    private static func luma(_ r: UInt32, _ g: UInt32, _ b: UInt32) -> UInt8 {
        UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
    }

    // MARK: - PNG

    private func decodePNG(_ bytes: [UInt8], path: String) throws(ImageProblem) -> DecodedImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { buffer in
            png_image_begin_read_from_memory(&image, buffer.baseAddress, buffer.count)
        }
        guard begun != 0 else { throw ImageProblem(path: path, reason: "not a readable PNG: \(Self.message(image))") }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0 else { throw ImageProblem(path: path, reason: "PNG with no pixels (\(width)x\(height))") }
        guard width * height <= Self.maximumPixels else {
            throw ImageProblem(path: path, reason: "PNG of \(width)x\(height) pixels is too large (at most \(Self.maximumPixels) pixels are decoded)")
        }
        // Read with alpha, which is then dropped (as Pillow's convert("RGB") and TensorFlow's
        // decode_png(channels=3) drop it); 16-bit samples scaled as stored, not as linear light.
        let sourceColor = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let readChannels = sourceColor ? 4 : 2
        image.format = UInt32(PNG_FORMAT_FLAG_ALPHA) | (sourceColor ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0)
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        var read = [UInt8](repeating: 0, count: width * height * readChannels)
        let finished = read.withUnsafeMutableBytes { buffer in
            png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil)
        }
        guard finished != 0 else { throw ImageProblem(path: path, reason: "corrupt or truncated PNG: \(Self.message(image))") }
        let channels = format.color.channels
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for i in 0..<width * height {
            if !sourceColor {
                let gray = read[2 * i]
                for c in 0..<channels { pixels[channels * i + c] = gray }
            } else if channels == 3 {
                pixels[3 * i] = read[4 * i]
                pixels[3 * i + 1] = read[4 * i + 1]
                pixels[3 * i + 2] = read[4 * i + 2]
            } else {
                pixels[i] = Self.luma(UInt32(read[4 * i]), UInt32(read[4 * i + 1]), UInt32(read[4 * i + 2]))
            }
        }
        return DecodedImage(height: height, width: width, pixels: pixels)
    }

    private static func message(_ image: png_image) -> String {
        var text = image.message
        let message = withUnsafeBytes(of: &text) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return message.isEmpty ? "unknown libpng error" : message
    }
}
