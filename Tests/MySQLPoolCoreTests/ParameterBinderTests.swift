import Testing

@testable import MySQLPoolCore

/// The lexer and the literals of pool_query_params, without a server (the
/// C tests send them to one).
@Suite struct ParameterBinderTests {
    static let plain = ParameterBinder.Dialect(backslashEscapes: true, charset: "utf8mb4")

    static func offsets(_ sql: String, _ dialect: ParameterBinder.Dialect = plain) -> [Int] {
        var bytes = Array(sql.utf8)
        return bytes.withUnsafeMutableBytes { ParameterBinder.placeholders(in: UnsafeRawBufferPointer($0), dialect) }
    }

    static func bound(_ sql: String, _ parameters: [SQLParameter]) throws(PoolError) -> String {
        let bytes = Array(sql.utf8)
        let result: Result<[UInt8], PoolError> = bytes.withUnsafeBytes { buffer in
            do throws(PoolError) {
                return .success(try ParameterBinder.bind(buffer, parameters, plain) { text, out in
                    out.append(contentsOf: text)  // no escaping needed for these texts
                })
            } catch {
                return .failure(error)
            }
        }
        return String(decoding: try result.get(), as: UTF8.self)
    }

    @Test func placeholdersOutsideStringsNamesAndComments() {
        #expect(Self.offsets("SELECT ?, '?', \"?\", `?`, ?") == [7, 25])
        #expect(Self.offsets("SELECT ? -- ?\n, ? # ?\n, /* ? */ ?") == [7, 16, 32])
        #expect(Self.offsets("SELECT 1--?") == [10])  // "--" without a space is minus minus
        #expect(Self.offsets("SELECT /*! ? */ 1, /*M!100000 ? */ 2") == [11, 30])
        #expect(Self.offsets("SELECT 'it\\'s ?', ?") == [18])
        #expect(Self.offsets("SELECT 'a''?', ?") == [15])
        #expect(Self.offsets("SELECT 'unterminated ?") == [])
        #expect(Self.offsets("SELECT /* unterminated ?") == [])
    }

    @Test func noBackslashEscapesAndMultibyteCharsets() {
        let noEscapes = ParameterBinder.Dialect(backslashEscapes: false, charset: "utf8mb4")
        // With NO_BACKSLASH_ESCAPES the backslash is a character and the quote ends the string.
        #expect(Self.offsets("SELECT 'a\\', ?", noEscapes) == [13])
        // gbk: 0xBF 0x5C is one character; its 0x5C is no backslash.
        let gbk = ParameterBinder.Dialect(backslashEscapes: true, charset: "gbk")
        let sql: [UInt8] = Array("SELECT '".utf8) + [0xBF, 0x5C] + Array("', ?".utf8)
        let found = sql.withUnsafeBytes { ParameterBinder.placeholders(in: $0, gbk) }
        #expect(found == [sql.count - 1])
    }

    @Test func literalsOfEveryType() throws {
        let text = Array("it's".utf8)
        try text.withUnsafeBytes { bytes in
            let sql = try Self.bound("SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?", [
                .null, .int(-5), .uint(.max), .double(0.5), .text(bytes), .binary(bytes),
                .date(SQLTime(year: 2026, month: 1, day: 2)),
                .time(SQLTime(negative: true, hour: 100, minute: 2, second: 3, microsecond: 40)),
                .datetime(SQLTime(year: 1, month: 2, day: 3, hour: 4, minute: 5, second: 6)),
                .double(1e300),
            ])
            #expect(sql == "SELECT NULL, -5, 18446744073709551615, 0.5e0, 'it's', X'69742773', '2026-01-02', "
                        + "'-100:02:03.000040', '0001-02-03 04:05:06', 1e+300")
        }
    }

    @Test func countsAndBadValuesAreRefused() {
        #expect(throws: PoolError.self) { try Self.bound("SELECT ?", []) }
        #expect(throws: PoolError.self) { try Self.bound("SELECT 1", [.null]) }
        #expect(throws: PoolError.self) { try Self.bound("SELECT ?", [.double(.nan)]) }
        #expect(throws: PoolError.self) { try Self.bound("SELECT ?", [.date(SQLTime(year: 10000))]) }
        #expect(throws: PoolError.self) { try Self.bound("SELECT ?", [.time(SQLTime(minute: 60))]) }
        do {
            _ = try Self.bound("SELECT ?, ?", [.null])
        } catch {
            #expect(error.message == "the statement has 2 placeholder(s) but 1 parameter(s) were given")
        }
    }

    @Test func decimals() {
        func check(_ text: String) -> Bool {
            Array(text.utf8).withUnsafeBytes { ParameterBinder.isDecimal($0) }
        }
        for good in ["0", "-12.50", "+1", ".5", "5.", "1e3", "1.5E-3", "-0.0e+0"] { #expect(check(good), "\(good)") }
        for bad in ["", "-", ".", "e3", "1e", "1e+", "1.2.3", "1 ", "0x10", "1;DROP", "--1", "NaN"] {
            #expect(!check(bad), "\(bad)")
        }
    }
}
