#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Randomness

/// The random recipe for one synthetic image: a glyph with varied position, size, aspect, turn,
/// stroke and contrast, a few distractor blobs and line fragments, pixel noise, and now and then
/// a second glyph of another class on top, so that no classifier can be perfect.
enum SyntheticScene {
    /// Chance that an image also shows a glyph of another class (a deliberately ambiguous sample).
    static let ambiguousFraction = 0.03
    /// Largest turn either way, in radians (25°), small enough that the glyphs stay distinct.
    static let maximumAngle = Float(25.0 * Double.pi / 180)

    /// Draws one `side`-by-`side` image of `glyph`, taking every random choice from `generator`, into `pixels`.
    static func draw(
        _ glyph: Glyph,
        classes: Int,
        side: Int,
        using generator: inout SeededGenerator,
        into pixels: UnsafeMutableBufferPointer<UInt8>
    ) {
        let size = Float(side)
        let background = generator.nextFloat(in: 0, 0.2)
        let ink = generator.nextFloat(in: 0.55, 1)
        var canvas = Canvas(side: side, background: background)

        let center = size / 2
        let x = center + generator.nextFloat(in: -3.5, 3.5)
        let y = center + generator.nextFloat(in: -3.5, 3.5)
        drawGlyph(glyph, x: x, y: y, size: size, ink: ink, on: &canvas, using: &generator)

        if generator.nextUnitDouble() < ambiguousFraction && classes > 1 {
            let other = (glyph.rawValue + 1 + generator.nextInt(below: classes - 1)) % classes
            drawGlyph(
                Glyph.allCases[other],
                x: x + generator.nextFloat(in: -4, 4),
                y: y + generator.nextFloat(in: -4, 4),
                size: size,
                ink: ink * generator.nextFloat(in: 0.8, 1),
                on: &canvas,
                using: &generator
            )
        }

        for _ in 0..<generator.nextInt(below: 4) {
            drawDistractor(size: size, ink: ink, on: &canvas, using: &generator)
        }

        canvas.addNoise(standardDeviation: generator.nextFloat(in: 0.02, 0.1), using: &generator)
        canvas.quantise(into: pixels)
    }

    /// One glyph centred at (x, y) with a random size, aspect, turn and stroke.
    private static func drawGlyph(
        _ glyph: Glyph,
        x: Float,
        y: Float,
        size: Float,
        ink: Float,
        on canvas: inout Canvas,
        using generator: inout SeededGenerator
    ) {
        let radius = 0.28 * size * generator.nextFloat(in: 0.75, 1.25)
        let stretch = exp(generator.nextFloat(in: -0.2, 0.2))
        let angle = generator.nextFloat(in: -maximumAngle, maximumAngle)
        let halfWidth = generator.nextFloat(in: 0.7, 1.4)
        let placement = Placement(x: x, y: y, angle: angle)
        for part in glyph.parts(radius: radius, stretch: stretch, halfWidth: halfWidth) {
            canvas.paint(part, at: placement, intensity: ink)
        }
    }

    /// A small blob or short line fragment somewhere on the canvas, fainter than the glyph.
    private static func drawDistractor(size: Float, ink: Float, on canvas: inout Canvas, using generator: inout SeededGenerator) {
        let placement = Placement(
            x: generator.nextFloat(in: 2, size - 2),
            y: generator.nextFloat(in: 2, size - 2),
            angle: generator.nextFloat(in: 0, 2 * Float.pi)
        )
        let intensity = ink * generator.nextFloat(in: 0.3, 0.9)
        let part: Primitive
        if generator.nextUnitFloat() < 0.5 {
            let radius = generator.nextFloat(in: 0.8, 2)
            part = .ellipse(rx: radius, ry: radius)
        } else {
            let half = generator.nextFloat(in: 1, 2.5)
            part = .segment(ax: -half, ay: 0, bx: half, by: 0, halfWidth: generator.nextFloat(in: 0.5, 1))
        }
        canvas.paint(part, at: placement, intensity: intensity)
    }
}
