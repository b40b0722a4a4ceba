import Foundation

// Number and time formats shared by the tables, the live view and the plots.

/// `value` with `digits` decimals; `-` for NaN.
func fixed(_ value: Double, _ digits: Int = 4) -> String {
    value.isFinite ? String(format: "%.\(digits)f", value) : "-"
}

/// A count with thousands separators: `12,345`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (k, ch) in digits.enumerated() {
        if k > 0 && (digits.count - k) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return value < 0 ? "-" + out : out
}

/// A duration for people: `0.8s`, `12.3s`, `4m05s`, `2h03m`.
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "-" }
    if seconds < 60 { return String(format: "%.1fs", seconds) }
    let whole = Int(seconds.rounded())
    if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
    return String(format: "%dh%02dm", whole / 3600, whole % 3600 / 60)
}

/// A byte count in SI units: `950 B`, `45.9 kB`, `3.2 MB`, `1.4 GB`.
func byteCount(_ bytes: Int) -> String {
    let value = Double(bytes)
    if bytes < 1000 { return "\(bytes) B" }
    for (unit, scale) in [("kB", 1e3), ("MB", 1e6), ("GB", 1e9)] where value < scale * 999.95 {
        return String(format: "%.1f", value / scale) + " " + unit
    }
    return String(format: "%.1f TB", value / 1e12)
}

/// Milliseconds with a precision that suits them: `0.42ms`, `3.5ms`, `120ms`.
func milliseconds(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "-" }
    let ms = seconds * 1000
    if ms < 1 { return String(format: "%.2fms", ms) }
    if ms < 100 { return String(format: "%.1fms", ms) }
    return String(format: "%.0fms", ms)
}

/// A clock time `HH:MM:SS` in `zone`.
func clockTime(_ unixSeconds: Double, _ zone: TimeZone) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    let parts = calendar.dateComponents([.hour, .minute, .second], from: Date(timeIntervalSince1970: unixSeconds))
    return String(format: "%02d:%02d:%02d", parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
}

/// A date and time `YYYY-MM-DD HH:MM:SS` in `zone`, with the zone's abbreviation.
func dateTime(_ unixSeconds: Double, _ zone: TimeZone) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    let date = Date(timeIntervalSince1970: unixSeconds)
    let p = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    // Foundation calls UTC "GMT"; say UTC, as people and logs do.
    let abbreviation = zone.abbreviation(for: date) ?? zone.identifier
    let name = abbreviation == "GMT" && zone.secondsFromGMT(for: date) == 0 ? "UTC" : abbreviation
    return String(format: "%04d-%02d-%02d %02d:%02d:%02d ", p.year ?? 0, p.month ?? 0, p.day ?? 0, p.hour ?? 0, p.minute ?? 0, p.second ?? 0) + name
}

/// The `q`-quantile (0…1) of `values`, by linear interpolation between order statistics; NaN when empty.
func quantile(_ values: [Double], _ q: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return quantile(sorted: sorted, q)
}

func quantile(sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = q * Double(sorted.count - 1)
    let low = Int(position.rounded(.down)), high = Int(position.rounded(.up))
    return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
}

/// `value` with `digits` significant digits, for learning rates (as the console prints them):
/// `0.001`, `0.0005`, `0.000987654`, `3.2e-05`; `-` for NaN.
func significant(_ value: Double, _ digits: Int = 6) -> String {
    value.isFinite ? String(format: "%.\(digits)g", value) : "-"
}

/// A log value as people read it: numbers without trailing noise, strings as they are.
func plain(_ value: LogValue) -> String {
    switch value {
    case .int(let v): return String(v)
    case .double(let v): return v.isFinite ? (v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)") : "-"
    case .string(let v): return v
    case .bool(let v): return v ? "true" : "false"
    }
}
