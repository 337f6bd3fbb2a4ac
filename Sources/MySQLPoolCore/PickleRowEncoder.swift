import CMariaDB

#if canImport(Glibc)
import Glibc
#endif

/// How a column's text becomes a Python value, as PyMySQL's decoders do.
enum PythonColumnKind {
    case integer, float, decimal, datetime, date, time, text, bytes

    init(type: enum_field_types, charsetnr: UInt32, textAsBytes: Bool) {
        switch type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_INT24, MYSQL_TYPE_LONGLONG,
            MYSQL_TYPE_YEAR:
            self = .integer
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE: self = .float
        case MYSQL_TYPE_DECIMAL, MYSQL_TYPE_NEWDECIMAL: self = .decimal
        case MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP: self = .datetime
        case MYSQL_TYPE_DATE, MYSQL_TYPE_NEWDATE: self = .date
        case MYSQL_TYPE_TIME: self = .time
        case MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY: self = .bytes
        case MYSQL_TYPE_JSON: self = textAsBytes ? .bytes : .text
        default:
            // Strings, blobs, ENUM, SET: the binary collation (63) means bytes.
            self = charsetnr == 63 || textAsBytes ? .bytes : .text
        }
    }
}

/// Writes result rows as a pickle (protocol 3) stream of a list of tuples,
/// so Python builds every value at C speed with one `pickle.loads`.
///
/// Safety: server bytes only ever appear inside length-prefixed string or
/// bytes opcodes; numbers are parsed here and written as numbers; dates are
/// parsed and written as integers. Nothing the server sends can become an
/// opcode. Values that do not parse (zero dates, ...) become str, as PyMySQL
/// returns them.
struct PickleRowEncoder {
    private(set) var bytes: [UInt8] = []
    /// Bit n set: global n is in the memo (BINPUT n).
    private var memoized: UInt8 = 0

    private enum Global: Int {
        case decimal = 0, datetime, date, timedelta

        var spelling: StaticString {
            switch self {
            case .decimal: "cdecimal\nDecimal\n"
            case .datetime: "cdatetime\ndatetime\n"
            case .date: "cdatetime\ndate\n"
            case .timedelta: "cdatetime\ntimedelta\n"
            }
        }
    }

    /// Starts a new stream (PROTO 3); the previous one is forgotten.
    mutating func begin() {
        bytes.removeAll(keepingCapacity: true)
        memoized = 0
        appendPair(0x80, 3)
    }

    /// Ends the stream with STOP: the last value written is what loads returns.
    mutating func finish() {
        bytes.append(UInt8(ascii: "."))
    }

    /// A list: EMPTY_LIST MARK ... APPENDS.
    mutating func beginList() {
        appendPair(UInt8(ascii: "]"), UInt8(ascii: "("))
    }

    mutating func endList() {
        bytes.append(UInt8(ascii: "e"))
    }

    /// A tuple of any length: MARK ... TUPLE.
    mutating func beginTuple() {
        bytes.append(UInt8(ascii: "("))
    }

    mutating func endTuple() {
        bytes.append(UInt8(ascii: "t"))
    }

    mutating func appendNone() {
        bytes.append(UInt8(ascii: "N"))
    }

    mutating func appendUInt64(_ value: UInt64) {
        if let small = Int64(exactly: value) {
            appendInt64(small)
        } else {
            appendLong(magnitude: value, negative: false)
        }
    }

    /// A str when the bytes are UTF-8, else bytes; bytes when `asBytes`.
    mutating func appendString(_ pointer: UnsafePointer<CChar>?, count: Int, asBytes: Bool) {
        let buffer = UnsafeBufferPointer(
            start: pointer.map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) }, count: pointer == nil ? 0 : count)
        if asBytes { appendBytes(buffer) } else { appendText(buffer) }
    }

    /// One row: `values`/`lengths` as libmariadb returns them.
    mutating func appendRow(_ values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                            _ lengths: UnsafeMutablePointer<UInt>, kinds: [PythonColumnKind]) {
        let count = kinds.count
        if count > 3 || count == 0 { bytes.append(UInt8(ascii: "(")) }
        for column in 0..<count {
            guard let cell = values[column] else {
                bytes.append(UInt8(ascii: "N"))
                continue
            }
            let text = UnsafeBufferPointer(start: UnsafeRawPointer(cell).assumingMemoryBound(to: UInt8.self),
                                           count: Int(lengths[column]))
            appendValue(text, kinds[column])
        }
        switch count {
        case 1: bytes.append(0x85)  // TUPLE1
        case 2: bytes.append(0x86)  // TUPLE2
        case 3: bytes.append(0x87)  // TUPLE3
        default: bytes.append(UInt8(ascii: "t"))  // TUPLE (from MARK)
        }
    }

    private mutating func appendValue(_ text: UnsafeBufferPointer<UInt8>, _ kind: PythonColumnKind) {
        switch PythonValue(text, kind) {
        case .integer(let value): appendInt64(value)
        case .unsignedInteger(let magnitude): appendLong(magnitude: magnitude, negative: false)
        case .negativeInteger(let magnitude): appendLong(magnitude: magnitude, negative: true)
        case .float(let value): appendDouble(value)
        case .text: appendText(text)
        case .bytes: appendBytes(text)
        case .decimal: appendCall(.decimal) { $0.appendText(text) }
        case .datetime(let value): appendCall(.datetime) { $0.appendDateState(value, withTime: true) }
        case .date(let value): appendCall(.date) { $0.appendDateState(value, withTime: false) }
        case .timedelta(let seconds, let microseconds):
            appendCall(.timedelta, argumentCount: 3) { encoder in
                encoder.appendInt64(0)
                encoder.appendInt64(seconds)
                encoder.appendInt64(microseconds)
            }
        }
    }

    /// The bytes Python's own pickles give datetime(...) and date(...): year
    /// (2 bytes), month, day[, hour, minute, second, microsecond (3 bytes)],
    /// big-endian. The constructors copy such a state without re-checking
    /// it, which is why DateText validates every field first; this is 2.5x
    /// faster to load than six int arguments.
    private mutating func appendDateState(_ value: CivilDateTime, withTime: Bool) {
        let count = withTime ? 10 : 4
        appendPair(UInt8(ascii: "C"), UInt8(count))  // SHORT_BINBYTES
        appendPair(UInt8(value.year >> 8), UInt8(value.year & 0xFF))
        appendPair(UInt8(value.month), UInt8(value.day))
        if withTime {
            appendPair(UInt8(value.hour), UInt8(value.minute))
            appendPair(UInt8(value.second), UInt8(value.microsecond >> 16))
            appendPair(UInt8((value.microsecond >> 8) & 0xFF), UInt8(value.microsecond & 0xFF))
        }
    }

    /// GLOBAL (memoized after first use), the arguments, TUPLE1/TUPLE3,
    /// REDUCE: a call of the global with one or three arguments.
    private mutating func appendCall(_ global: Global, argumentCount: Int = 1,
                                     arguments: (inout PickleRowEncoder) -> Void) {
        precondition(argumentCount == 1 || argumentCount == 3)
        let bit = UInt8(1) << UInt8(global.rawValue)
        if memoized & bit != 0 {
            appendPair(UInt8(ascii: "h"), UInt8(global.rawValue))  // BINGET
        } else {
            let spelling = global.spelling
            bytes.append(contentsOf: UnsafeBufferPointer(start: spelling.utf8Start, count: spelling.utf8CodeUnitCount))
            appendPair(UInt8(ascii: "q"), UInt8(global.rawValue))  // BINPUT
            memoized |= bit
        }
        arguments(&self)
        appendPair(argumentCount == 1 ? 0x85 : 0x87, UInt8(ascii: "R"))
    }

    private mutating func appendLength(opcode: UInt8, _ count: Int) {
        bytes.append(opcode)
        appendLittleEndian(UInt32(count))
    }

    /// A bytes value that holds a pickle of its own (PROTO ... STOP), written
    /// by `build`: the reader can use the bytes as a cache key and decode
    /// them only when they are new (column metadata repeats statement after
    /// statement).
    mutating func appendNestedPickle(_ build: (inout PickleRowEncoder) -> Void) {
        appendLength(opcode: UInt8(ascii: "B"), 0)  // BINBYTES; the length is patched below
        let start = bytes.count
        let outerMemo = memoized
        memoized = 0
        appendPair(0x80, 3)
        build(&self)
        finish()
        memoized = outerMemo
        withUnsafeBytes(of: UInt32(bytes.count - start).littleEndian) { length in
            for index in 0..<4 { bytes[start - 4 + index] = length[index] }
        }
    }

    var count: Int { bytes.count }

    @inline(__always)
    private mutating func appendLittleEndian(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    /// Two bytes, without the temporary array a literal would allocate.
    @inline(__always)
    private mutating func appendPair(_ first: UInt8, _ second: UInt8) {
        bytes.append(first)
        bytes.append(second)
    }

    mutating func appendBytes(_ value: UnsafeBufferPointer<UInt8>) {
        if value.count < 256 {
            appendPair(UInt8(ascii: "C"), UInt8(value.count))  // SHORT_BINBYTES
        } else {
            appendLength(opcode: UInt8(ascii: "B"), value.count)  // BINBYTES
        }
        bytes.append(contentsOf: value)
    }

    /// str when the bytes are UTF-8 (what the connection charset promised);
    /// otherwise bytes, so a bad value can never break the whole stream.
    mutating func appendText(_ value: UnsafeBufferPointer<UInt8>) {
        guard isValidUTF8(value) else { return appendBytes(value) }
        appendLength(opcode: UInt8(ascii: "X"), value.count)  // BINUNICODE
        if !value.isEmpty { bytes.append(contentsOf: value) }
    }

    mutating func appendInt64(_ value: Int64) {
        if let small = Int32(exactly: value) {
            bytes.append(UInt8(ascii: "J"))  // BININT
            appendLittleEndian(UInt32(bitPattern: small))
        } else {
            appendLong(magnitude: value.magnitude, negative: value < 0)
        }
    }

    /// LONG1: little-endian two's complement in as few bytes as it needs.
    private mutating func appendLong(magnitude: UInt64, negative: Bool) {
        var digits: [UInt8] = []
        var remaining = magnitude
        while remaining != 0 {
            digits.append(UInt8(truncatingIfNeeded: remaining))
            remaining >>= 8
        }
        if negative {
            // Two's complement of the magnitude over digits.count bytes.
            var carry = true
            for index in digits.indices {
                let inverted = ~digits[index]
                (digits[index], carry) = carry ? inverted.addingReportingOverflow(1) : (inverted, false)
            }
            if digits.last! & 0x80 == 0 { digits.append(0xFF) }
        } else if let top = digits.last, top & 0x80 != 0 {
            digits.append(0)
        }
        appendPair(0x8A, UInt8(digits.count))
        bytes.append(contentsOf: digits)
    }

    private mutating func appendDouble(_ value: Double) {
        bytes.append(UInt8(ascii: "G"))  // BINFLOAT, big-endian
        let bits = value.bitPattern
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }
}

/// What one cell becomes in Python, as PyMySQL converts it: the one place
/// that reads the server's text, for the pickle and for the object builder
/// alike. Text that does not parse (a zero date, ...) stays text.
enum PythonValue {
    case integer(Int64)
    /// Beyond Int64, as magnitudes (BIGINT UNSIGNED, DECIMAL-like texts).
    case unsignedInteger(UInt64), negativeInteger(UInt64)
    case float(Double)
    /// str when the bytes are UTF-8, bytes otherwise (see appendText).
    case text
    case bytes
    /// Decimal(text).
    case decimal
    case datetime(CivilDateTime), date(CivilDateTime)
    /// timedelta(0, seconds, microseconds).
    case timedelta(Int64, Int64)

    init(_ text: UnsafeBufferPointer<UInt8>, _ kind: PythonColumnKind) {
        switch kind {
        case .bytes: self = .bytes
        case .text: self = .text
        case .integer: self = PythonValue.integer(text) ?? .text
        case .float: self = PythonValue.float(text).map { .float($0) } ?? .text
        case .decimal: self = .decimal
        case .datetime: self = DateText.datetime(text).map { .datetime($0) } ?? .text
        case .date: self = DateText.date(text).map { .date($0) } ?? .text
        case .time: self = DateText.time(text).map { .timedelta($0.0, $0.1) } ?? .text
        }
    }

    /// Decimal text of an integer column, exactly as int() reads it.
    private static func integer(_ text: UnsafeBufferPointer<UInt8>) -> PythonValue? {
        var index = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative || text.first == UInt8(ascii: "+") { index = 1 }
        guard index < text.count, text.count - index <= 20 else { return nil }
        var magnitude: UInt64 = 0
        while index < text.count {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflow1 && !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if magnitude <= UInt64(Int64.max) { return .integer(negative ? -Int64(magnitude) : Int64(magnitude)) }
        return negative ? .negativeInteger(magnitude) : .unsignedInteger(magnitude)
    }

    private static func float(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        guard text.count > 0, text.count < 64 else { return nil }
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &scratch) { buffer in
            let characters = buffer.bindMemory(to: CChar.self)
            for index in 0..<text.count { characters[index] = CChar(bitPattern: text[index]) }
            characters[text.count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(characters.baseAddress!, &end)
            return end == characters.baseAddress! + text.count ? value : nil
        }
    }
}

/// Strict UTF-8 check (no overlongs, no surrogates, at most U+10FFFF).
func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var index = 0
    let count = bytes.count
    while index < count {
        let lead = bytes[index]
        if lead < 0x80 {
            index += 1
            continue
        }
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return false
        }
        guard index + length <= count else { return false }
        guard bytes[index + 1] >= low && bytes[index + 1] <= high else { return false }
        for offset in 2..<max(2, length) where bytes[index + offset] & 0xC0 != 0x80 { return false }
        index += length
    }
    return true
}

/// The server's canonical date/time texts, checked the way Python's datetime
/// constructors check them.
/// A calendar date and time of day, every field in Python's ranges.
struct CivilDateTime: Equatable {
    var year = 1, month = 1, day = 1, hour = 0, minute = 0, second = 0, microsecond = 0
}

enum DateText {
    /// "YYYY-MM-DD HH:MM:SS[.ffffff]", nil when Python's datetime would
    /// refuse it.
    static func datetime(_ text: UnsafeBufferPointer<UInt8>) -> CivilDateTime? {
        guard text.count >= 19, text[10] == UInt8(ascii: " ") || text[10] == UInt8(ascii: "T"),
              var value = date(UnsafeBufferPointer(rebasing: text[0..<10])),
              text[13] == UInt8(ascii: ":"), text[16] == UInt8(ascii: ":"),
              let hour = number(text, 11, 2), let minute = number(text, 14, 2), let second = number(text, 17, 2),
              hour < 24, minute < 60, second < 60,
              let micro = fraction(text, from: 19)
        else { return nil }
        (value.hour, value.minute, value.second, value.microsecond) = (hour, minute, second, micro)
        return value
    }

    /// "YYYY-MM-DD", nil when Python's date would refuse it.
    static func date(_ text: UnsafeBufferPointer<UInt8>) -> CivilDateTime? {
        guard text.count == 10, text[4] == UInt8(ascii: "-"), text[7] == UInt8(ascii: "-"),
              let year = number(text, 0, 4), let month = number(text, 5, 2), let day = number(text, 8, 2),
              year >= 1, month >= 1, month <= 12, day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        return CivilDateTime(year: year, month: month, day: day)
    }

    /// "[-]H{1,3}:MM:SS[.ffffff]" → signed (seconds, microseconds).
    static func time(_ text: UnsafeBufferPointer<UInt8>) -> (Int64, Int64)? {
        var index = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { index = 1 }
        var hours = 0, digits = 0
        while index < text.count, let digit = digitValue(text[index]), digits < 3 {
            hours = hours * 10 + digit
            index += 1
            digits += 1
        }
        guard digits > 0, index + 6 <= text.count, text[index] == UInt8(ascii: ":"),
              text[index + 3] == UInt8(ascii: ":"),
              let minutes = number(text, index + 1, 2), let seconds = number(text, index + 4, 2),
              let micro = fraction(text, from: index + 6)
        else { return nil }
        let total = Int64((hours * 60 + minutes) * 60 + seconds)
        return negative ? (-total, -Int64(micro)) : (total, Int64(micro))
    }

    /// Nothing, or "." and 1-6 digits padded on the right to microseconds.
    private static func fraction(_ text: UnsafeBufferPointer<UInt8>, from index: Int) -> Int? {
        if index == text.count { return 0 }
        let digits = text.count - index - 1
        guard text[index] == UInt8(ascii: "."), digits >= 1, digits <= 6,
              let value = number(text, index + 1, digits)
        else { return nil }
        var micro = value
        for _ in digits..<6 { micro *= 10 }
        return micro
    }

    private static func number(_ text: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int? {
        guard start + count <= text.count else { return nil }
        var value = 0
        for index in start..<(start + count) {
            guard let digit = digitValue(text[index]) else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    private static func digitValue(_ byte: UInt8) -> Int? {
        byte >= 0x30 && byte <= 0x39 ? Int(byte - 0x30) : nil
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
