/// Client-side parameter binding for `pool_query_params`: finds the `?`
/// placeholders of a statement lexically and writes each parameter as an
/// SQL literal in its place. Text goes through the connection's own escaping
/// (charset-aware, NO_BACKSLASH_ESCAPES), passed in as `escapeText`, so this
/// file knows no charset beyond which ones hide a backslash byte in their
/// multibyte characters.
public enum SQLParameter {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case text(UnsafeRawBufferPointer)
    case binary(UnsafeRawBufferPointer)
    case date(SQLTime)
    case time(SQLTime)
    case datetime(SQLTime)
    case decimal(UnsafeRawBufferPointer)
}

/// pool_time_t's fields.
public struct SQLTime: Sendable {
    public var negative = false
    public var year: UInt32 = 0, month: UInt32 = 0, day: UInt32 = 0
    public var hour: UInt32 = 0, minute: UInt32 = 0, second: UInt32 = 0
    public var microsecond: UInt32 = 0

    public init(negative: Bool = false, year: UInt32 = 0, month: UInt32 = 0, day: UInt32 = 0, hour: UInt32 = 0,
                minute: UInt32 = 0, second: UInt32 = 0, microsecond: UInt32 = 0) {
        self.negative = negative
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
    }
}

public enum ParameterBinder {
    /// How the statement's own text is read: whether a backslash escapes
    /// inside quotes, and which bytes start a two-byte character whose second
    /// byte may be 0x5C (a backslash) or 0x27 (a quote) in the charset.
    public struct Dialect: Sendable {
        public var backslashEscapes: Bool
        public var leadByte: (@Sendable (UInt8) -> Bool)?

        public init(backslashEscapes: Bool, charset: String) {
            self.backslashEscapes = backslashEscapes
            leadByte = Self.leadBytes(of: charset)
        }

        /// gbk, gb18030 and big5 lead bytes are 0x81-0xFE; sjis and cp932's
        /// 0x81-0x9F and 0xE0-0xFC. UTF-8 and single-byte charsets never put
        /// an ASCII byte inside a character.
        static func leadBytes(of charset: String) -> (@Sendable (UInt8) -> Bool)? {
            switch charset {
            case "gbk", "gb18030", "big5": return { (0x81...0xFE).contains($0) }
            case "sjis", "cp932": return { (0x81...0x9F).contains($0) || (0xE0...0xFC).contains($0) }
            default: return nil
            }
        }
    }

    /// Byte offsets of the `?` placeholders: not inside '...', "...",
    /// `...`, or a comment (-- , #, /* */). The contents of /*! ... */ and
    /// /*M! ... */ are run by the server, so a `?` there is a placeholder.
    public static func placeholders(in sql: UnsafeRawBufferPointer, _ dialect: Dialect) -> [Int] {
        var found: [Int] = []
        var index = 0
        let count = sql.count
        func at(_ offset: Int) -> UInt8 { offset < count ? sql[offset] : 0 }
        while index < count {
            let byte = sql[index]
            switch byte {
            case UInt8(ascii: "?"):
                found.append(index)
                index += 1
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                index = endOfQuoted(sql, from: index + 1, quote: byte, dialect)
            case UInt8(ascii: "#"):
                index = endOfLine(sql, from: index)
            case UInt8(ascii: "-") where at(index + 1) == UInt8(ascii: "-")
                && (index + 2 >= count || at(index + 2) <= 0x20):
                index = endOfLine(sql, from: index)
            case UInt8(ascii: "/") where at(index + 1) == UInt8(ascii: "*"):
                let executable = at(index + 2) == UInt8(ascii: "!")
                    || (at(index + 2) == UInt8(ascii: "M") && at(index + 3) == UInt8(ascii: "!"))
                index = executable ? index + 2 : endOfComment(sql, from: index + 2)
            default:
                index += 1
            }
        }
        return found
    }

    private static func endOfQuoted(_ sql: UnsafeRawBufferPointer, from start: Int, quote: UInt8,
                                    _ dialect: Dialect) -> Int {
        var index = start
        while index < sql.count {
            let byte = sql[index]
            if byte == quote { return index + 1 }  // a doubled quote reopens at once: the same thing
            if let leadByte = dialect.leadByte, leadByte(byte) {
                index += 2
            } else if byte == UInt8(ascii: "\\") && dialect.backslashEscapes && quote != UInt8(ascii: "`") {
                index += 2
            } else {
                index += 1
            }
        }
        return sql.count
    }

    private static func endOfLine(_ sql: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < sql.count && sql[index] != UInt8(ascii: "\n") { index += 1 }
        return index
    }

    private static func endOfComment(_ sql: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index + 1 < sql.count {
            if sql[index] == UInt8(ascii: "*") && sql[index + 1] == UInt8(ascii: "/") { return index + 2 }
            index += 1
        }
        return sql.count
    }

    /// The statement with every placeholder replaced by its parameter's
    /// literal. `escapeText` appends a text value escaped for the
    /// connection (without the quotes).
    public static func bind(_ sql: UnsafeRawBufferPointer, _ parameters: [SQLParameter], _ dialect: Dialect,
                            escapeText: (UnsafeRawBufferPointer, inout [UInt8]) throws(PoolError) -> Void)
        throws(PoolError) -> [UInt8]
    {
        let offsets = placeholders(in: sql, dialect)
        guard offsets.count == parameters.count else {
            throw PoolError(.badArgument, "the statement has \(offsets.count) placeholder(s) but "
                                + "\(parameters.count) parameter(s) were given")
        }
        var out: [UInt8] = []
        out.reserveCapacity(sql.count + parameters.count * 8)
        var copied = 0
        for (number, (offset, parameter)) in zip(offsets, parameters).enumerated() {
            out.append(contentsOf: sql[copied..<offset])
            do {
                try append(parameter, to: &out, escapeText: escapeText)
            } catch {
                throw PoolError(error.kind, "parameter \(number + 1): \(error.message)")
            }
            copied = offset + 1
        }
        out.append(contentsOf: sql[copied..<sql.count])
        return out
    }

    /// Refuses what no statement can carry: NaN and infinities, a malformed
    /// decimal, a date or time out of range. Both bindings (the literal here,
    /// the binary protocol's in PreparedStatement) check through this.
    public static func validate(_ parameter: SQLParameter) throws(PoolError) {
        switch parameter {
        case .null, .int, .uint, .text, .binary: return
        case .double(let value):
            guard value.isFinite else { throw PoolError(.badArgument, "\(value) cannot be used in SQL") }
        case .decimal(let bytes):
            guard isDecimal(bytes) else {
                throw PoolError(.badArgument, "'\(String(decoding: bytes.prefix(64), as: UTF8.self))' is not a decimal "
                                    + "number (sign, digits, one point, exponent)")
            }
        case .date(let time):
            try checkDate(time)
        case .time(let time):
            guard time.hour <= 838, time.minute <= 59, time.second <= 59, time.microsecond <= 999_999 else {
                throw PoolError(.badArgument, "time \(time.hour):\(time.minute):\(time.second).\(time.microsecond) "
                                    + "is out of range (hour 0-838, minute and second 0-59, microsecond 0-999999)")
            }
        case .datetime(let time):
            try checkDate(time)
            guard time.hour <= 23, time.minute <= 59, time.second <= 59, time.microsecond <= 999_999 else {
                throw PoolError(.badArgument, "time of day \(time.hour):\(time.minute):\(time.second)."
                                    + "\(time.microsecond) is out of range")
            }
        }
    }

    static func append(_ parameter: SQLParameter, to out: inout [UInt8],
                       escapeText: (UnsafeRawBufferPointer, inout [UInt8]) throws(PoolError) -> Void)
        throws(PoolError)
    {
        try validate(parameter)
        switch parameter {
        case .null: out.append(contentsOf: "NULL".utf8)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .uint(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value):
            // The shortest text that reads back as the same double, as a DOUBLE literal.
            let text = value.description
            out.append(contentsOf: text.utf8)
            if !text.contains("e") { out.append(contentsOf: "e0".utf8) }
        case .text(let bytes):
            out.append(UInt8(ascii: "'"))
            try escapeText(bytes, &out)
            out.append(UInt8(ascii: "'"))
        case .binary(let bytes):
            out.append(contentsOf: "X'".utf8)
            let digits = Array("0123456789ABCDEF".utf8)
            for byte in bytes {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
            out.append(UInt8(ascii: "'"))
        case .decimal(let bytes):
            out.append(contentsOf: bytes)
        case .date(let time):
            out.append(contentsOf: "'\(pad(time.year, 4))-\(pad(time.month, 2))-\(pad(time.day, 2))'".utf8)
        case .time(let time):
            out.append(contentsOf: "'\(time.negative ? "-" : "")\(pad(time.hour, 2)):\(clock(time))'".utf8)
        case .datetime(let time):
            out.append(contentsOf: ("'\(pad(time.year, 4))-\(pad(time.month, 2))-\(pad(time.day, 2)) "
                                    + "\(pad(time.hour, 2)):\(clock(time))'").utf8)
        }
    }

    private static func checkDate(_ time: SQLTime) throws(PoolError) {
        guard time.year <= 9999, time.month <= 12, time.day <= 31 else {
            throw PoolError(.badArgument, "date \(time.year)-\(time.month)-\(time.day) is out of range "
                                + "(year 0-9999, month 0-12, day 0-31)")
        }
    }

    /// MM:SS[.ffffff]
    private static func clock(_ time: SQLTime) -> String {
        let seconds = "\(pad(time.minute, 2)):\(pad(time.second, 2))"
        return time.microsecond == 0 ? seconds : seconds + "." + pad(time.microsecond, 6)
    }

    private static func pad(_ value: UInt32, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// [+-] digits [. digits] [e [+-] digits], with a digit somewhere before the exponent.
    static func isDecimal(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        func isDigit(_ i: Int) -> Bool { i < bytes.count && (0x30...0x39).contains(bytes[i]) }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
        var digits = 0
        while isDigit(index) { index += 1; digits += 1 }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            while isDigit(index) { index += 1; digits += 1 }
        }
        guard digits > 0 else { return false }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            guard isDigit(index) else { return false }
            while isDigit(index) { index += 1 }
        }
        return index == bytes.count
    }
}
