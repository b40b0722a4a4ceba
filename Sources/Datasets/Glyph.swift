/// The shapes the synthetic classes are drawn as: class k is `Glyph.allCases[k]`,
/// so the two-class set is ring against square outline.
enum Glyph: Int, CaseIterable {
    case ring, squareOutline, disc, triangle, plus, chevron, barPair, verticalBar, ell, tee

    /// The glyph's parts around the origin for half-extent `r`, stroke half-width `w`,
    /// and aspect `s` (widths grow by `s`, heights shrink by it).
    func parts(radius r: Float, stretch s: Float, halfWidth w: Float) -> [Primitive] {
        func stroke(_ ax: Float, _ ay: Float, _ bx: Float, _ by: Float) -> Primitive {
            .segment(ax: ax * r * s, ay: ay * r / s, bx: bx * r * s, by: by * r / s, halfWidth: w)
        }
        switch self {
        case .ring:
            return [.ellipseOutline(rx: r * s, ry: r / s, halfWidth: w)]
        case .squareOutline:
            return [.boxOutline(hx: 0.85 * r * s, hy: 0.85 * r / s, halfWidth: w)]
        case .disc:
            return [.ellipse(rx: 0.75 * r * s, ry: 0.75 * r / s)]
        case .triangle:
            return [.triangle(x0: 0, y0: -r / s, x1: 0.95 * r * s, y1: 0.75 * r / s, x2: -0.95 * r * s, y2: 0.75 * r / s)]
        case .plus:
            return [stroke(-1, 0, 1, 0), stroke(0, -1, 0, 1)]
        case .chevron:
            return [stroke(-0.7, -1, 0, 1), stroke(0, 1, 0.7, -1)]
        case .barPair:
            return [stroke(-1, -0.45, 1, -0.45), stroke(-1, 0.45, 1, 0.45)]
        case .verticalBar:
            return [stroke(0, -1, 0, 1)]
        case .ell:
            return [stroke(-0.6, -1, -0.6, 1), stroke(-0.6, 1, 0.7, 1)]
        case .tee:
            return [stroke(-0.8, -1, 0.8, -1), stroke(0, -1, 0, 1)]
        }
    }
}
