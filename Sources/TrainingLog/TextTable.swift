/// A table of text cells printed in aligned columns: text left, numbers right.
public struct TextTable: Sendable, Equatable {
    public var header: [String]
    public var rows: [[String]]
    /// Per column: true to align right (numbers).
    public var rightAligned: [Bool]

    public init(header: [String], rows: [[String]], rightAligned: [Bool]) {
        self.header = header
        self.rows = rows
        self.rightAligned = rightAligned
    }

    /// The cell in `row` under the column titled `column`.
    public func cell(_ row: Int, _ column: String) -> String? {
        guard let index = header.firstIndex(of: column), rows.indices.contains(row), rows[row].indices.contains(index) else { return nil }
        return rows[row][index]
    }

    /// The table as lines: the header, then one line per row; columns two spaces apart, no trailing spaces.
    public func lines(indent: String = "") -> [String] {
        var widths = header.map(\.count)
        for row in rows {
            for (k, cell) in row.enumerated() where k < widths.count { widths[k] = max(widths[k], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (k, width) in widths.enumerated() {
                let cell = k < cells.count ? cells[k] : ""
                let pad = String(repeating: " ", count: width - cell.count)
                let right = k < rightAligned.count && rightAligned[k]
                parts.append(right ? pad + cell : (k == widths.count - 1 ? cell : cell + pad))
            }
            var text = indent + parts.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        return [line(header)] + rows.map(line)
    }
}
