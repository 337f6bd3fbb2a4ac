import Testing

@testable import MySQLPoolCore

/// pickle.dumps((b'INSERT INTO t VALUES ', (b'(', b', ', b', ', b')'), b'',
///   [(1, "it's", None), (True, b'\x00\xff', -2.5), [2**40, 'café\\', False]]), 4)
/// from CPython 3.11: FRAME, MEMOIZE, BINGET (the ", " piece), TUPLE3, MARK
/// ... TUPLE, LONG1, BINFLOAT, a list row, APPENDS.
private let request: [UInt8] = [
    0x80, 0x04, 0x95, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28, 0x43, 0x15, 0x49, 0x4e, 0x53, 0x45,
    0x52, 0x54, 0x20, 0x49, 0x4e, 0x54, 0x4f, 0x20, 0x74, 0x20, 0x56, 0x41, 0x4c, 0x55, 0x45, 0x53, 0x20, 0x94,
    0x28, 0x43, 0x01, 0x28, 0x94, 0x43, 0x02, 0x2c, 0x20, 0x94, 0x68, 0x02, 0x43, 0x01, 0x29, 0x94, 0x74, 0x94,
    0x43, 0x00, 0x94, 0x5d, 0x94, 0x28, 0x4b, 0x01, 0x8c, 0x04, 0x69, 0x74, 0x27, 0x73, 0x94, 0x4e, 0x87, 0x94,
    0x88, 0x43, 0x02, 0x00, 0xff, 0x94, 0x47, 0xc0, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x87, 0x94, 0x5d,
    0x94, 0x28, 0x8a, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x8c, 0x06, 0x63, 0x61, 0x66, 0xc3, 0xa9, 0x5c,
    0x94, 0x89, 0x65, 0x65, 0x74, 0x94, 0x2e,
]

private let rows = [
    "(1, 'it\\'s', NULL)",
    "(1, X'00ff', -2.5e0)",
    "(1099511627776, 'caf\u{e9}\\\\', 0)",
]

/// The statements a request formats to, read back from the output pickle
/// with the same restricted reader.
private func statements(_ request: [UInt8], maxLength: Int = 1_000_000,
                        noBackslashEscapes: Bool = false) throws -> [String] {
    var output = PickleRowEncoder()
    try request.withUnsafeBytes { buffer in
        try InsertFormatter.format(request: buffer, maxStatementLength: maxLength,
                                   noBackslashEscapes: noBackslashEscapes, into: &output)
    }
    return try output.bytes.withUnsafeBytes { buffer -> [String] in
        var reader = PickleReader(buffer)
        guard case .list(let items) = try reader.readAll() else { return [] }
        return items.map { item in
            guard case .bytes(let range) = item else { return "not bytes" }
            return String(decoding: buffer[range], as: UTF8.self)
        }
    }
}

@Test func formatsEveryValueTypeAsPythonEscapesIt() throws {
    #expect(try statements(request) == ["INSERT INTO t VALUES " + rows.joined(separator: ",")])
}

@Test func quotesByDoublingUnderNoBackslashEscapes() throws {
    let formatted = try statements(request, noBackslashEscapes: true)
    #expect(formatted.count == 1)
    #expect(formatted[0].contains("'it''s'") && formatted[0].contains("'caf\u{e9}\\'"))
}

@Test func splitsStatementsAtTheMaximumLength() throws {
    let prefix = "INSERT INTO t VALUES "
    // Room for the first two rows, not the third.
    let fits = prefix.utf8.count + rows[0].utf8.count + 1 + rows[1].utf8.count
    #expect(try statements(request, maxLength: fits) == [prefix + rows[0] + "," + rows[1], prefix + rows[2]])
    // A row longer than the limit still gets a statement of its own.
    #expect(try statements(request, maxLength: 1) == rows.map { prefix + $0 })
}

@Test func pythonReprOfFloats() {
    let cases: [(Double, String)] = [
        (0.0, "0.0"), (-0.0, "-0.0"), (1.5, "1.5"), (1e16, "1e+16"), (1e15, "1000000000000000.0"),
        (9007199254740994.0, "9007199254740994.0"), (0.0001, "0.0001"), (1e-05, "1e-05"), (-2.5e-300, "-2.5e-300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"), (123456.789, "123456.789"), (5e-324, "5e-324"),
    ]
    for (value, repr) in cases { #expect(pythonRepr(value) == repr) }
}

@Test func refusesWhatIsNotPlainData() throws {
    // GLOBAL os.system, then REDUCE: the classic pickle exploit.
    let exploit = Array("cos\nsystem\n(S'true'\ntR.".utf8)
    #expect(throws: InsertFormatter.Failure.unsupported("pickle opcode 0x63 at offset 0")) {
        try statements(exploit)
    }
}

/// Every truncation and thousands of random corruptions of a valid request
/// end in a result or a Failure, never a crash or a read past the buffer
/// (the sanitizer runs of the suite check the latter).
@Test func survivesCorruptedRequests() {
    var generator = SplitMix(seed: 0x5EED)  // the corruptions are the same every run
    var outcomes = (formatted: 0, refused: 0)
    func attempt(_ bytes: [UInt8]) {
        do {
            _ = try statements(bytes, maxLength: Int(generator.next() % 200) + 1)
            outcomes.formatted += 1
        } catch {
            outcomes.refused += 1
        }
    }
    for length in 0..<request.count { attempt(Array(request.prefix(length))) }
    for _ in 0..<20_000 {
        var bytes = request
        for _ in 0..<(1 + generator.next() % 4) {
            let at = Int(generator.next() % UInt64(bytes.count))
            switch generator.next() % 4 {
            case 0: bytes[at] = UInt8(truncatingIfNeeded: generator.next())
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: at)
            default: bytes[at] ^= 0x80
            }
            if bytes.isEmpty { break }
        }
        attempt(bytes)
    }
    #expect(outcomes.refused >= request.count)
    #expect(outcomes.formatted > 0)  // some corruptions are still valid requests (a changed digit)
}
