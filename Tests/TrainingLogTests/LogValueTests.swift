import Foundation
import TrainingLog
import XCTest

final class LogValueTests: XCTestCase {
    // MARK: - JSON

    func testScalarsAsJSON() {
        XCTAssertEqual(LogValue.int(42).json, "42")
        XCTAssertEqual(LogValue.int(-7).json, "-7")
        XCTAssertEqual(LogValue.int(Int.min).json, "-9223372036854775808")
        XCTAssertEqual(LogValue.double(0.5).json, "0.5")
        XCTAssertEqual(LogValue.bool(true).json, "true")
        XCTAssertEqual(LogValue.bool(false).json, "false")
        XCTAssertEqual(LogValue.string("seed-cnn").json, #""seed-cnn""#)
    }

    func testNonFiniteDoublesBecomeNull() {
        XCTAssertEqual(LogValue.double(.nan).json, "null")
        XCTAssertEqual(LogValue.double(.infinity).json, "null")
        XCTAssertEqual(LogValue.double(-.infinity).json, "null")
        XCTAssertEqual(LogValue.double(.signalingNaN).json, "null")
    }

    /// Every finite double prints as a valid JSON number that reads back to the same bits.
    func testFiniteDoublesAreValidJSONNumbersThatRoundTrip() throws {
        let values: [Double] = [0, -0.0, 1, -1, 0.1, 1e-5, 1e-300, 5e-324, 1e300, 1e16, -2.5e-8,
                                .greatestFiniteMagnitude, .leastNormalMagnitude, Double(Float(0.1))]
        for value in values {
            let text = LogValue.double(value).json
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(text)]".utf8)) as? [Any]
            XCTAssertTrue(parsed?.first is NSNumber, "\(value) printed as \(text), which JSON does not read as a number")
            XCTAssertEqual(Double(text)?.bitPattern, value.bitPattern, "\(value) printed as \(text)")
        }
    }

    func testStringEscapesQuotesBackslashesAndControlCharacters() {
        XCTAssertEqual(LogValue.string(#"say "hi""#).json, #""say \"hi\"""#)
        XCTAssertEqual(LogValue.string(#"C:\runs\a"#).json, #""C:\\runs\\a""#)
        XCTAssertEqual(LogValue.string("a\nb\rc\td").json, #""a\nb\rc\td""#)
        XCTAssertEqual(LogValue.string("\u{0}\u{1}\u{8}\u{C}\u{1F}").json, #""\u0000\u0001\u0008\u000c\u001f""#)
        XCTAssertEqual(LogValue.string("").json, #""""#)
        // Characters at and above 0x20 stay as they are, including non-ASCII text.
        XCTAssertEqual(LogValue.string(" ,:{}[]/é€😀").json, "\" ,:{}[]/é€😀\"")
    }

    /// Whatever the text, the JSON string reads back to the same text and stays on one line.
    func testStringsRoundTripThroughJSONSerialization() throws {
        var everyControlCharacter = ""
        for value in 0..<0x20 { everyControlCharacter.unicodeScalars.append(Unicode.Scalar(UInt8(value))) }
        let texts = ["plain", #"quote " and backslash \ and \" both"#, "crlf\r\nline", everyControlCharacter,
                     "\u{7F}\u{85}\u{2028}", "e\u{301} combining", "😀 emoji", "\\u0041 is not an escape here"]
        for text in texts {
            let json = LogValue.string(text).json
            XCTAssertFalse(json.unicodeScalars.contains("\n"), "\(text.debugDescription) spans lines: \(json)")
            XCTAssertFalse(json.unicodeScalars.contains("\r"), "\(text.debugDescription) spans lines: \(json)")
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(json)]".utf8)) as? [Any]
            XCTAssertEqual(parsed?.first as? String, text, "\(text.debugDescription) became \(json)")
        }
    }

    func testJSONQuotedMatchesTheStringCase() {
        for text in ["a\"b", "\\", "\u{1}", "ok"] {
            XCTAssertEqual(jsonQuoted(text), LogValue.string(text).json)
        }
    }

    // MARK: - CSV

    func testScalarsAsCSV() {
        XCTAssertEqual(LogValue.int(-3).csv, "-3")
        XCTAssertEqual(LogValue.double(0.25).csv, "0.25")
        XCTAssertEqual(LogValue.bool(true).csv, "true")
        XCTAssertEqual(LogValue.string("adam").csv, "adam")
    }

    func testNonFiniteDoublesAreEmptyCells() {
        XCTAssertEqual(LogValue.double(.nan).csv, "")
        XCTAssertEqual(LogValue.double(.infinity).csv, "")
        XCTAssertEqual(LogValue.double(-.infinity).csv, "")
    }

    func testCSVQuotesOnlyWhenItMust() {
        XCTAssertEqual(LogValue.string("a,b").csv, #""a,b""#)
        XCTAssertEqual(LogValue.string(#"say "hi""#).csv, #""say ""hi""""#)
        XCTAssertEqual(LogValue.string("\"").csv, #""""""#)
        XCTAssertEqual(LogValue.string("two\nlines").csv, "\"two\nlines\"")
        // A backslash is not special in CSV: no quoting, no escaping.
        XCTAssertEqual(LogValue.string(#"C:\runs"#).csv, #"C:\runs"#)
        XCTAssertEqual(LogValue.string("tab\there").csv, "tab\there")
        XCTAssertEqual(LogValue.string("").csv, "")
    }

    /// A Windows line break must be quoted like a bare "\n"; in Swift "\r\n" is a single Character.
    func testCSVQuotesCarriageReturnLineBreaks() {
        XCTAssertEqual(LogValue.string("two\r\nlines").csv, "\"two\r\nlines\"")
        XCTAssertEqual(LogValue.string("old\rmac").csv, "\"old\rmac\"")
    }

    // MARK: - Objects

    func testJSONObjectKeepsKeysInTheOrderGiven() {
        let text = jsonObject([("zeta", .int(1)), ("alpha", .string("x")), ("mid", .double(.nan)), ("b", .bool(false))])
        XCTAssertEqual(text, #"{"zeta":1,"alpha":"x","mid":null,"b":false}"#)
    }

    func testJSONObjectEscapesKeysAndParses() throws {
        let text = jsonObject([("a\"b", .int(1)), ("c\\d", .string("e\nf"))])
        XCTAssertEqual(text, #"{"a\"b":1,"c\\d":"e\nf"}"#)
        let object = try jsonDictionary(text)
        XCTAssertEqual(object["a\"b"] as? Int, 1)
        XCTAssertEqual(object["c\\d"] as? String, "e\nf")
    }

    func testEmptyJSONObject() {
        XCTAssertEqual(jsonObject([]), "{}")
    }
}
