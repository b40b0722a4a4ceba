/// A part of a drawn shape in its own frame (pixels, origin at the shape's centre, y pointing down),
/// described by its signed distance: negative inside, positive outside.
enum Primitive {
    /// A stroke from (ax, ay) to (bx, by) with round ends.
    case segment(ax: Float, ay: Float, bx: Float, by: Float, halfWidth: Float)
    /// A filled ellipse with radii rx, ry.
    case ellipse(rx: Float, ry: Float)
    /// The outline of an ellipse with radii rx, ry.
    case ellipseOutline(rx: Float, ry: Float, halfWidth: Float)
    /// The outline of a rectangle with half-sides hx, hy.
    case boxOutline(hx: Float, hy: Float, halfWidth: Float)
    /// A filled triangle.
    case triangle(x0: Float, y0: Float, x1: Float, y1: Float, x2: Float, y2: Float)

    /// The signed distance from (x, y) to the part's edge, in pixels (exact except for ellipses, whose
    /// distance is the usual first-order estimate).
    func distance(_ x: Float, _ y: Float) -> Float {
        switch self {
        case let .segment(ax, ay, bx, by, halfWidth):
            return segmentDistance(x, y, ax, ay, bx, by) - halfWidth
        case let .ellipse(rx, ry):
            return ellipseDistance(x, y, rx, ry)
        case let .ellipseOutline(rx, ry, halfWidth):
            return abs(ellipseDistance(x, y, rx, ry)) - halfWidth
        case let .boxOutline(hx, hy, halfWidth):
            let qx = abs(x) - hx
            let qy = abs(y) - hy
            let outside = (max(qx, 0) * max(qx, 0) + max(qy, 0) * max(qy, 0)).squareRoot()
            return abs(outside + min(max(qx, qy), 0)) - halfWidth
        case let .triangle(x0, y0, x1, y1, x2, y2):
            let edge = min(
                segmentDistance(x, y, x0, y0, x1, y1),
                segmentDistance(x, y, x1, y1, x2, y2),
                segmentDistance(x, y, x2, y2, x0, y0)
            )
            let s0 = cross(x1 - x0, y1 - y0, x - x0, y - y0)
            let s1 = cross(x2 - x1, y2 - y1, x - x1, y - y1)
            let s2 = cross(x0 - x2, y0 - y2, x - x2, y - y2)
            let inside = (s0 >= 0 && s1 >= 0 && s2 >= 0) || (s0 <= 0 && s1 <= 0 && s2 <= 0)
            return inside ? -edge : edge
        }
    }

    /// How far from the origin any covered point can lie.
    var reach: Float {
        switch self {
        case let .segment(ax, ay, bx, by, halfWidth):
            return max(length(ax, ay), length(bx, by)) + halfWidth
        case let .ellipse(rx, ry):
            return max(rx, ry)
        case let .ellipseOutline(rx, ry, halfWidth):
            return max(rx, ry) + halfWidth
        case let .boxOutline(hx, hy, halfWidth):
            return length(hx, hy) + halfWidth
        case let .triangle(x0, y0, x1, y1, x2, y2):
            return max(length(x0, y0), length(x1, y1), length(x2, y2))
        }
    }
}

/// Distance from (x, y) to the segment from (ax, ay) to (bx, by).
private func segmentDistance(_ x: Float, _ y: Float, _ ax: Float, _ ay: Float, _ bx: Float, _ by: Float) -> Float {
    let ex = bx - ax
    let ey = by - ay
    let px = x - ax
    let py = y - ay
    let lengthSquared = ex * ex + ey * ey
    let t = lengthSquared > 0 ? min(max((px * ex + py * ey) / lengthSquared, 0), 1) : 0
    return length(px - t * ex, py - t * ey)
}

/// Signed distance estimate to an ellipse: (|p/r| - 1) scaled by the gradient's length.
private func ellipseDistance(_ x: Float, _ y: Float, _ rx: Float, _ ry: Float) -> Float {
    let k0 = length(x / rx, y / ry)
    let k1 = length(x / (rx * rx), y / (ry * ry))
    guard k1 > 0 else { return -min(rx, ry) }
    return k0 * (k0 - 1) / k1
}

private func length(_ x: Float, _ y: Float) -> Float { (x * x + y * y).squareRoot() }

private func cross(_ ax: Float, _ ay: Float, _ bx: Float, _ by: Float) -> Float { ax * by - ay * bx }
