/// executemany's multi-row INSERT, written at native speed: the rows arrive
/// as one Python pickle (what `pickle.dumps` makes of a list of tuples) and
/// leave as the statements to send, so Python escapes nothing per value.
///
/// The request is untrusted input: the reader below understands only the
/// opcodes that plain data needs (no globals, no calls, no objects), checks
/// every length against the buffer, and never lets a value become anything
/// but a quoted, escaped literal.
enum InsertFormatter {
    /// Why a request was not formatted.
    enum Failure: Error, Equatable {
        /// Not a well-formed request pickle: a bug in the caller.
        case malformed(String)
        /// Well formed, but holding something this fast path leaves to the
        /// general one (inf or nan, a nested sequence, a row of the wrong length,
        /// a shared list, text with lone surrogates, a huge int).
        case unsupported(String)
    }

    /// Formats `request`, a pickle of (prefix, pieces, postfix, rows):
    /// prefix and postfix are bytes, pieces a tuple of the bytes between a
    /// row's placeholders (one more than each row has values), rows a list or
    /// tuple of tuples or lists of int, bool, float, None, str and bytes.
    /// Rows are joined with "," into statements of at most
    /// `maxStatementLength` bytes (a row longer than that gets a statement of
    /// its own), as PyMySQL's executemany does, and `output` receives a
    /// pickle of the list of statements (bytes).
    static func format(request: UnsafeRawBufferPointer, maxStatementLength: Int, noBackslashEscapes: Bool,
                       into output: inout PickleRowEncoder) throws(Failure) {
        var reader = PickleReader(request)
        let parts = try reader.readAll()
        guard case .tuple(let fields) = parts, fields.count == 4,
              case .bytes(let prefix) = fields[0], case .tuple(let pieceValues) = fields[1],
              case .bytes(let postfix) = fields[2], let rows = fields[3].items, !pieceValues.isEmpty
        else { throw .malformed("the request is not a tuple (prefix, pieces, postfix, rows)") }
        var pieces: [Range<Int>] = []
        for piece in pieceValues {
            guard case .bytes(let range) = piece else { throw .malformed("a piece of the row template is not bytes") }
            pieces.append(range)
        }
        var writer = StatementWriter(source: request, prefix: prefix, postfix: postfix,
                                     maxLength: maxStatementLength, noBackslashEscapes: noBackslashEscapes)
        output.begin()
        output.beginList()
        for (index, row) in rows.enumerated() {
            guard let values = row.items else { throw .unsupported("row \(index) is not a tuple or list") }
            guard values.count == pieces.count - 1 else {
                throw .unsupported("row \(index) has \(values.count) values for \(pieces.count - 1) placeholders")
            }
            try writer.add(values: values, between: pieces, row: index, output: &output)
        }
        try writer.finish(output: &output)
        output.endList()
        output.finish()
    }
}

/// The rows of one statement after another, each statement flushed to the
/// output as a bytes value when the next row would not fit.
private struct StatementWriter {
    let source: UnsafeRawBufferPointer
    let prefix: Range<Int>
    let postfix: Range<Int>
    let maxLength: Int
    let noBackslashEscapes: Bool
    private var statement: [UInt8] = []
    private var row: [UInt8] = []
    private var rowsInStatement = 0

    init(source: UnsafeRawBufferPointer, prefix: Range<Int>, postfix: Range<Int>, maxLength: Int,
         noBackslashEscapes: Bool) {
        self.source = source
        self.prefix = prefix
        self.postfix = postfix
        self.maxLength = maxLength
        self.noBackslashEscapes = noBackslashEscapes
        statement.append(contentsOf: source[prefix])
    }

    mutating func add(values: [PickleValue], between pieces: [Range<Int>], row index: Int,
                      output: inout PickleRowEncoder) throws(InsertFormatter.Failure) {
        row.removeAll(keepingCapacity: true)
        row.append(contentsOf: source[pieces[0]])
        for (position, value) in values.enumerated() {
            try appendLiteral(value, row: index)
            row.append(contentsOf: source[pieces[position + 1]])
        }
        if rowsInStatement > 0 && statement.count + row.count + postfix.count + 1 > maxLength {
            try finish(output: &output)
            statement.append(contentsOf: source[prefix])
        } else if rowsInStatement > 0 {
            statement.append(UInt8(ascii: ","))
        }
        statement.append(contentsOf: row)
        rowsInStatement += 1
    }

    /// Writes the statement being built (if it has rows) and starts afresh.
    mutating func finish(output: inout PickleRowEncoder) throws(InsertFormatter.Failure) {
        guard rowsInStatement > 0 else { return }
        statement.append(contentsOf: source[postfix])
        guard statement.count <= UInt32.max else { throw .unsupported("a statement of 4 GiB or more") }
        statement.withUnsafeBufferPointer { output.appendBytes($0) }
        statement.removeAll(keepingCapacity: true)
        rowsInStatement = 0
    }

    /// A value as the Python binding's escape() writes it for a UTF-8
    /// connection: NULL, 1/0, decimal digits, a float's repr, X'hex', or a
    /// quoted string.
    private mutating func appendLiteral(_ value: PickleValue, row index: Int) throws(InsertFormatter.Failure) {
        switch value {
        case .none: appendASCII("NULL")
        case .bool(let flag): row.append(flag ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        case .int(let number): appendASCII(String(number))
        case .float(let number):
            // escape_float: repr(), plus "e0" to make a DOUBLE literal, not
            // a DECIMAL.
            guard number.isFinite else { throw .unsupported("row \(index) holds \(number)") }
            let text = pythonRepr(number)
            appendASCII(text)
            if !text.utf8.contains(UInt8(ascii: "e")) { appendASCII("e0") }
        case .bytes(let range): appendHex(source[range])
        case .text(let range):
            guard appendQuoted(source[range]) else {
                throw .unsupported("a str in row \(index) holds a lone surrogate")
            }
        case .tuple, .list: throw .unsupported("row \(index) holds a nested sequence")
        }
    }

    private mutating func appendASCII(_ text: String) {
        var text = text
        text.withUTF8 { row.append(contentsOf: $0) }
    }

    private mutating func appendHex(_ bytes: Slice<UnsafeRawBufferPointer>) {
        let digits: StaticString = "0123456789abcdef"
        row.append(UInt8(ascii: "X"))
        row.append(UInt8(ascii: "'"))
        for byte in bytes {
            row.append(digits.utf8Start[Int(byte >> 4)])
            row.append(digits.utf8Start[Int(byte & 0xF)])
        }
        row.append(UInt8(ascii: "'"))
    }

    /// UTF-8 text between single quotes: backslash escapes (PyMySQL's table:
    /// NUL, \n, \r, ^Z, ', ", \), or '' for ' under NO_BACKSLASH_ESCAPES. The
    /// bytes that matter are ASCII, which never occur inside a multi-byte
    /// UTF-8 sequence, so escaping byte by byte is exact. False for a lone
    /// surrogate (ED A0..BF: pickle writes them, UTF-8 has none).
    private mutating func appendQuoted(_ text: Slice<UnsafeRawBufferPointer>) -> Bool {
        row.append(UInt8(ascii: "'"))
        var previous: UInt8 = 0
        for byte in text {
            if previous == 0xED && byte >= 0xA0 { return false }
            previous = byte
            if noBackslashEscapes {
                if byte == UInt8(ascii: "'") { row.append(byte) }
                row.append(byte)
                continue
            }
            switch byte {
            case 0: row.append(UInt8(ascii: "\\")); row.append(UInt8(ascii: "0"))
            case 0x0A: row.append(UInt8(ascii: "\\")); row.append(UInt8(ascii: "n"))
            case 0x0D: row.append(UInt8(ascii: "\\")); row.append(UInt8(ascii: "r"))
            case 0x1A: row.append(UInt8(ascii: "\\")); row.append(UInt8(ascii: "Z"))
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "\\"):
                row.append(UInt8(ascii: "\\"))
                row.append(byte)
            default: row.append(byte)
            }
        }
        row.append(UInt8(ascii: "'"))
        return true
    }
}

/// A value of plain data as the restricted reader builds it; text and bytes
/// are ranges of the request buffer, not copies.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case text(Range<Int>)
    case bytes(Range<Int>)
    case tuple([PickleValue])
    case list([PickleValue])

    /// The elements of a tuple or list.
    var items: [PickleValue]? {
        switch self {
        case .tuple(let items), .list(let items): items
        default: nil
        }
    }
}

/// Reads pickles (protocols 2 to 5) of None, bool, int (up to 64 bits),
/// float, str, bytes, tuples and lists. Any other opcode (globals, calls, floats, dicts,
/// ...) is refused as unsupported, so nothing in the request can run code or
/// build an object; every read is bounds-checked.
struct PickleReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0
    private var stack: [PickleValue] = []
    /// Stack depths where a MARK was set.
    private var marks: [Int] = []
    private var memo: [PickleValue] = []

    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
    }

    /// The one value the pickle describes, up to STOP.
    mutating func readAll() throws(InsertFormatter.Failure) -> PickleValue {
        while true {
            let at = offset
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try take(8)  // FRAME: a hint for buffered readers
            case UInt8(ascii: "."):
                guard stack.count == 1, marks.isEmpty else { throw .malformed("STOP with a stack of \(stack.count)") }
                guard offset == buffer.count else { throw .malformed("\(buffer.count - offset) bytes after STOP") }
                return stack[0]
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case UInt8(ascii: "K"): stack.append(.int(Int64(try byte())))  // BININT1
            case UInt8(ascii: "M"): stack.append(.int(Int64(try littleEndian(2))))  // BININT2
            case UInt8(ascii: "J"): stack.append(.int(Int64(Int32(truncatingIfNeeded: try littleEndian(4)))))  // BININT
            case 0x8A: stack.append(.int(try long1()))
            case UInt8(ascii: "G"): stack.append(.float(Double(bitPattern: try bigEndian(8))))  // BINFLOAT
            case 0x8C: stack.append(.text(try take(Int(try byte()))))  // SHORT_BINUNICODE
            case UInt8(ascii: "X"): stack.append(.text(try take(try length(4))))  // BINUNICODE
            case 0x8D: stack.append(.text(try take(try length(8))))  // BINUNICODE8
            case UInt8(ascii: "C"): stack.append(.bytes(try take(Int(try byte()))))  // SHORT_BINBYTES
            case UInt8(ascii: "B"): stack.append(.bytes(try take(try length(4))))  // BINBYTES
            case 0x8E: stack.append(.bytes(try take(try length(8))))  // BINBYTES8
            case UInt8(ascii: ")"): stack.append(.tuple([]))  // EMPTY_TUPLE
            case UInt8(ascii: "]"): stack.append(.list([]))  // EMPTY_LIST
            case UInt8(ascii: "("): marks.append(stack.count)  // MARK
            case UInt8(ascii: "t"): stack.append(.tuple(try popToMark()))  // TUPLE
            case 0x85, 0x86, 0x87: try makeTuple(Int(opcode - 0x84))  // TUPLE1..3
            case UInt8(ascii: "a"): try append(contentsOf: [try pop()])  // APPEND
            case UInt8(ascii: "e"): try append(contentsOf: try popToMark())  // APPENDS
            case 0x94: try memoize(at: memo.count)  // MEMOIZE
            case UInt8(ascii: "q"): try memoize(at: Int(try byte()))  // BINPUT
            case UInt8(ascii: "r"): try memoize(at: Int(try littleEndian(4)))  // LONG_BINPUT
            case UInt8(ascii: "h"): try recall(Int(try byte()))  // BINGET
            case UInt8(ascii: "j"): try recall(Int(try littleEndian(4)))  // LONG_BINGET
            default:
                throw .unsupported("pickle opcode 0x\(String(opcode, radix: 16)) at offset \(at)")
            }
        }
    }

    private mutating func byte() throws(InsertFormatter.Failure) -> UInt8 {
        guard offset < buffer.count else { throw .malformed("the pickle ends early, at offset \(offset)") }
        defer { offset += 1 }
        return buffer[offset]
    }

    /// The next `count` bytes, as a range of the buffer.
    private mutating func take(_ count: Int) throws(InsertFormatter.Failure) -> Range<Int> {
        guard count >= 0, count <= buffer.count - offset else {
            throw .malformed("a length of \(count) at offset \(offset) runs past the pickle's end")
        }
        defer { offset += count }
        return offset..<offset + count
    }

    private mutating func littleEndian(_ width: Int) throws(InsertFormatter.Failure) -> UInt64 {
        let range = try take(width)
        var value: UInt64 = 0
        for index in range.reversed() { value = value << 8 | UInt64(buffer[index]) }
        return value
    }

    private mutating func bigEndian(_ width: Int) throws(InsertFormatter.Failure) -> UInt64 {
        let range = try take(width)
        var value: UInt64 = 0
        for index in range { value = value << 8 | UInt64(buffer[index]) }
        return value
    }

    private mutating func length(_ width: Int) throws(InsertFormatter.Failure) -> Int {
        let value = try littleEndian(width)
        guard value <= UInt64(buffer.count) else {
            throw .malformed("a length of \(value) at offset \(offset - width) runs past the pickle's end")
        }
        return Int(value)
    }

    /// LONG1: a little-endian two's-complement int of up to 8 bytes here.
    private mutating func long1() throws(InsertFormatter.Failure) -> Int64 {
        let count = Int(try byte())
        guard count <= 8 else { throw .unsupported("an int wider than 64 bits at offset \(offset - 2)") }
        guard count > 0 else { return 0 }
        let raw = try littleEndian(count)
        let unused = UInt64(64 - 8 * count)
        return Int64(bitPattern: raw << unused) >> Int64(unused)  // sign-extends
    }

    private mutating func pop() throws(InsertFormatter.Failure) -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.popLast() else {
            throw .malformed("the stack is empty at offset \(offset - 1)")
        }
        return value
    }

    private mutating func popToMark() throws(InsertFormatter.Failure) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw .malformed("no MARK before offset \(offset - 1)") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func makeTuple(_ count: Int) throws(InsertFormatter.Failure) {
        guard stack.count - (marks.last ?? 0) >= count else {
            throw .malformed("a tuple of \(count) with fewer values at offset \(offset - 1)")
        }
        let items = Array(stack.suffix(count))
        stack.removeLast(count)
        stack.append(.tuple(items))
    }

    private mutating func append(contentsOf items: [PickleValue]) throws(InsertFormatter.Failure) {
        guard stack.count > (marks.last ?? 0), case .list(var list) = stack[stack.count - 1] else {
            throw .malformed("APPEND(S) without a list at offset \(offset - 1)")
        }
        stack[stack.count - 1] = .none  // drops the stack's reference, so the append does not copy
        list.append(contentsOf: items)
        stack[stack.count - 1] = .list(list)
    }

    private mutating func memoize(at index: Int) throws(InsertFormatter.Failure) {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else {
            throw .malformed("nothing to memoize at offset \(offset - 1)")
        }
        // Python writes memo indexes in order; a jump would ask for memory.
        guard index <= memo.count else { throw .unsupported("memo index \(index) out of order") }
        if index == memo.count { memo.append(top) } else { memo[index] = top }
    }

    private mutating func recall(_ index: Int) throws(InsertFormatter.Failure) {
        guard index < memo.count else { throw .malformed("memo index \(index) was never stored") }
        // Python shares the list object; the memo holds a copy of it as it
        // was when memoized (empty), so a shared list is left to Python.
        if case .list = memo[index] { throw .unsupported("a list that appears twice") }
        stack.append(memo[index])
    }
}

/// Python's repr() of a finite float: the shortest digits that read back as
/// the same value (Swift's description has the same digits), written fixed
/// when the decimal point falls within -4 < point <= 16 of them, else as
/// d.ddde+XX; Swift switches to exponents at other magnitudes (2^53).
func pythonRepr(_ value: Double) -> String {
    let swiftText = value.magnitude.description
    var mantissa = Substring(swiftText), exponent = 0
    if let e = swiftText.firstIndex(of: "e") {
        mantissa = swiftText[..<e]
        exponent = Int(swiftText[swiftText.index(after: e)...])!
    }
    let integerPart = mantissa.prefix { $0 != "." }
    var digits = Array(mantissa.utf8.filter { $0 != UInt8(ascii: ".") })
    var point = integerPart.count + exponent  // digits[0..<point] are before the point
    let leadingZeros = digits.prefix { $0 == UInt8(ascii: "0") }.count
    digits.removeFirst(leadingZeros)
    point -= leadingZeros
    while digits.last == UInt8(ascii: "0") { digits.removeLast() }
    let sign = value.sign == .minus ? "-" : ""
    guard !digits.isEmpty else { return sign + "0.0" }
    let text = String(decoding: digits, as: UTF8.self)
    if point > -4 && point <= 16 {
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + text }
        if point < digits.count {
            return sign + text.prefix(point) + "." + text.dropFirst(point)
        }
        return sign + text + String(repeating: "0", count: point - digits.count) + ".0"
    }
    let shown = point - 1
    let fraction = digits.count > 1 ? "." + text.dropFirst() : ""
    let exponentDigits = String(abs(shown))
    return sign + text.prefix(1) + fraction + "e" + (shown < 0 ? "-" : "+")
        + (exponentDigits.count < 2 ? "0" : "") + exponentDigits
}
