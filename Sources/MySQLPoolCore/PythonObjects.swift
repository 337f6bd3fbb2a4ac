#if canImport(Glibc)
import Glibc
#endif

/// The CPython functions and objects a binding running inside CPython hands
/// the library (pool_python_init), so rows can be built as Python objects
/// without a pickle in between. The library links no libpython: everything
/// comes through these pointers. PyObject * is an opaque pointer here.
public struct PythonRuntime: @unchecked Sendable {
    public typealias Object = UnsafeMutableRawPointer
    public typealias New = @convention(c) (Int) -> Object?
    public typealias SetItem = @convention(c) (Object?, Int, Object?) -> Int32
    public typealias FromString =
        @convention(c) (UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, Int32) -> Object?
    public typealias FromBuffer = @convention(c) (UnsafePointer<CChar>?, Int) -> Object?
    public typealias Decode = @convention(c) (UnsafePointer<CChar>?, Int, UnsafePointer<CChar>?) -> Object?
    public typealias Call = @convention(c) (Object?, Object?, Object?) -> Object?
    public typealias Reference = @convention(c) (Object?) -> Void

    public var tupleNew: New, tupleSetItem: SetItem, listNew: New, listSetItem: SetItem
    public var longFromLongLong: @convention(c) (Int64) -> Object?
    public var longFromUnsignedLongLong: @convention(c) (UInt64) -> Object?
    public var longFromString: FromString
    public var floatFromDouble: @convention(c) (Double) -> Object?
    public var unicodeDecodeUTF8: Decode, bytesFromStringAndSize: FromBuffer, objectCall: Call
    public var gilEnsure: @convention(c) () -> Int32, gilRelease: @convention(c) (Int32) -> Void
    public var incRef: Reference, decRef: Reference, errClear: @convention(c) () -> Void
    /// None, and the classes a cell's value may be made with.
    public var none: Object, decimal: Object, datetime: Object, date: Object, timedelta: Object

    public init(tupleNew: @escaping New, tupleSetItem: @escaping SetItem, listNew: @escaping New,
                listSetItem: @escaping SetItem, longFromLongLong: @escaping @convention(c) (Int64) -> Object?,
                longFromUnsignedLongLong: @escaping @convention(c) (UInt64) -> Object?,
                longFromString: @escaping FromString, floatFromDouble: @escaping @convention(c) (Double) -> Object?,
                unicodeDecodeUTF8: @escaping Decode, bytesFromStringAndSize: @escaping FromBuffer,
                objectCall: @escaping Call, gilEnsure: @escaping @convention(c) () -> Int32,
                gilRelease: @escaping @convention(c) (Int32) -> Void, incRef: @escaping Reference,
                decRef: @escaping Reference, errClear: @escaping @convention(c) () -> Void,
                none: Object, decimal: Object, datetime: Object, date: Object, timedelta: Object) {
        (self.tupleNew, self.tupleSetItem) = (tupleNew, tupleSetItem)
        (self.listNew, self.listSetItem) = (listNew, listSetItem)
        (self.longFromLongLong, self.longFromUnsignedLongLong) = (longFromLongLong, longFromUnsignedLongLong)
        (self.longFromString, self.floatFromDouble) = (longFromString, floatFromDouble)
        (self.unicodeDecodeUTF8, self.bytesFromStringAndSize, self.objectCall) =
            (unicodeDecodeUTF8, bytesFromStringAndSize, objectCall)
        (self.gilEnsure, self.gilRelease, self.incRef, self.decRef, self.errClear) =
            (gilEnsure, gilRelease, incRef, decRef, errClear)
        (self.none, self.decimal, self.datetime, self.date, self.timedelta) = (none, decimal, datetime, date, timedelta)
    }
}

extension PythonRuntime {
    /// A new reference to None, the GIL taken for it: what a call that
    /// returns objects returns when it failed.
    public func newNone() -> Object {
        let state = gilEnsure()
        incRef(none)
        gilRelease(state)
        return none
    }
}

/// A Python call failed (a MemoryError, ...); its exception is still set.
struct PythonFailure: Error {}

/// Builds Python objects through a PythonRuntime. Every method returns a new
/// reference, or throws with what it built so far released; callers hold
/// the GIL (see `withGIL`).
struct PythonObjectBuilder {
    typealias Object = PythonRuntime.Object
    let python: PythonRuntime

    func withGIL<Value>(_ body: () -> Value) -> Value {
        let state = python.gilEnsure()
        defer { python.gilRelease(state) }
        return body()
    }

    @inline(__always)
    func made(_ object: Object?) throws(PythonFailure) -> Object {
        guard let object else { throw PythonFailure() }
        return object
    }

    func none() -> Object {
        python.incRef(python.none)
        return python.none
    }

    func integer(_ value: Int64) throws(PythonFailure) -> Object { try made(python.longFromLongLong(value)) }

    func unsigned(_ value: UInt64) throws(PythonFailure) -> Object { try made(python.longFromUnsignedLongLong(value)) }

    func bytes(_ text: UnsafeBufferPointer<UInt8>) throws(PythonFailure) -> Object {
        try made(text.withMemoryRebound(to: CChar.self) { python.bytesFromStringAndSize($0.baseAddress, $0.count) })
    }

    /// A str of UTF-8 bytes.
    func text(_ text: UnsafeBufferPointer<UInt8>) throws(PythonFailure) -> Object {
        try made(text.withMemoryRebound(to: CChar.self) { python.unicodeDecodeUTF8($0.baseAddress, $0.count, nil) })
    }

    /// A tuple of `count` items, item i made by `make(i)` (a new reference
    /// the tuple takes). When one fails, the tuple and the items made so far
    /// are released (CPython skips the empty slots).
    func tuple(_ count: Int, _ make: (Int) throws(PythonFailure) -> Object) throws(PythonFailure) -> Object {
        let tuple = try made(python.tupleNew(count))
        for index in 0..<count {
            let item: Object
            do throws(PythonFailure) {
                item = try make(index)
            } catch {
                python.decRef(tuple)
                throw error
            }
            _ = python.tupleSetItem(tuple, index, item)
        }
        return tuple
    }

    /// callable(*arguments), the arguments made by `make` (see tuple).
    func call(_ callable: Object, _ count: Int, _ make: (Int) throws(PythonFailure) -> Object) throws(PythonFailure)
        -> Object
    {
        let arguments = try tuple(count, make)
        defer { python.decRef(arguments) }
        return try made(python.objectCall(callable, arguments, nil))
    }

    /// One cell as PyMySQL converts it: `parsed` says how (see RawRows:
    /// `.text` only for UTF-8), `text` is the server's text.
    func value(_ parsed: PythonValue, _ text: UnsafeBufferPointer<UInt8>) throws(PythonFailure) -> Object {
        switch parsed {
        case .integer(let value): return try integer(value)
        case .unsignedInteger(let magnitude): return try unsigned(magnitude)
        case .negativeInteger:
            // Below Int64.min: no integer column holds one; int() of the text.
            var digits = Array(text.map { CChar(bitPattern: $0) })
            digits.append(0)
            return try made(python.longFromString(digits, nil, 10))
        case .float(let value): return try made(python.floatFromDouble(value))
        case .text: return try self.text(text)
        case .bytes: return try bytes(text)
        case .decimal: return try call(python.decimal, 1) { _ throws(PythonFailure) in try self.text(text) }
        case .datetime(let value):
            return try call(python.datetime, 1) { _ throws(PythonFailure) in try dateState(value, withTime: true) }
        case .date(let value):
            return try call(python.date, 1) { _ throws(PythonFailure) in try dateState(value, withTime: false) }
        case .timedelta(let seconds, let microseconds):
            let parts = [0, seconds, microseconds]
            return try call(python.timedelta, 3) { index throws(PythonFailure) in try integer(parts[index]) }
        }
    }

    /// The state bytes datetime(...) and date(...) pickle themselves as
    /// (see PickleRowEncoder.appendDateState): the constructors take them
    /// as their one argument.
    private func dateState(_ value: CivilDateTime, withTime: Bool) throws(PythonFailure) -> Object {
        var state: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (
            UInt8(value.year >> 8), UInt8(value.year & 0xFF), UInt8(value.month), UInt8(value.day),
            UInt8(value.hour), UInt8(value.minute), UInt8(value.second), UInt8(value.microsecond >> 16),
            UInt8((value.microsecond >> 8) & 0xFF), UInt8(value.microsecond & 0xFF))
        return try withUnsafeBytes(of: &state) { raw throws(PythonFailure) in
            try made(python.bytesFromStringAndSize(raw.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                   withTime ? 10 : 4))
        }
    }

    /// A statement's tail: a tuple of its four numbers (None for a nil
    /// one), or None for a batch with rows left after it.
    func tail(_ numbers: [UInt64?]?) throws(PythonFailure) -> Object {
        guard let numbers else { return none() }
        return try tuple(numbers.count) { index throws(PythonFailure) in try numbers[index].map(unsigned) ?? none() }
    }

    /// (fields, rows, tail) of a statement: fields the nested pickle bytes,
    /// or None with rows None for a statement without a result set.
    func outcome(fields: PickleRowEncoder?, rows: RawRows, columns: Int, tail: [UInt64?]?) throws(PythonFailure)
        -> Object
    {
        try tuple(3) { part throws(PythonFailure) in
            switch part {
            case 0:
                guard let fields else { return none() }
                return try fields.bytes.withUnsafeBufferPointer { bytes throws(PythonFailure) in try self.bytes(bytes) }
            case 1: return fields == nil ? none() : try self.rows(of: rows, columns: columns)
            default: return try self.tail(tail)
            }
        }
    }

    /// A batch's rows as a list of tuples of `columns` items.
    func rows(of batch: RawRows, columns: Int) throws(PythonFailure) -> Object {
        let list = try made(python.listNew(batch.rowCount))
        do throws(PythonFailure) {
            try batch.bytes.withUnsafeBufferPointer { bytes throws(PythonFailure) in
                try batch.cells.withUnsafeBufferPointer { cells throws(PythonFailure) in
                    // A list or tuple whose items are not all set yet is
                    // released as it is: CPython skips the empty slots.
                    var cell = 0
                    for index in 0..<batch.rowCount {
                        let tuple = try made(python.tupleNew(columns))
                        _ = python.listSetItem(list, index, tuple)
                        for column in 0..<columns {
                            let (start, count, parsed) = (cells[cell].start, cells[cell].count, cells[cell].value)
                            cell += 1
                            let item = count < 0 ? none()
                                : try value(parsed, UnsafeBufferPointer(rebasing: bytes[start..<start + count]))
                            _ = python.tupleSetItem(tuple, column, item)
                        }
                    }
                }
            }
        } catch {
            python.decRef(list)
            throw error
        }
        return list
    }
}

extension MariaDBResult {
    /// The columns as the nested pickle an outcome carries (see appendFields).
    func fieldsPickle(_ options: PickleOptions) -> PickleRowEncoder {
        var fields = PickleRowEncoder()
        fields.begin()
        appendFields(to: &fields, namesAsBytes: options.contains(.textAsBytes))
        fields.finish()
        return fields
    }

    /// `outcomeForPython` as Python objects (see
    /// MariaDBConnection.outcomeObjects); frees the result.
    public func outcomeObjects(options: PickleOptions, python: PythonRuntime, failed: (PoolError) -> Void)
        -> PythonRuntime.Object
    {
        guard !isFreed else {
            failed(PoolError(.wrongHandle, "the result was already freed"))
            return python.newNone()
        }
        guard !isStreaming else {
            free()  // as promised: the handle is gone
            failed(PoolError(.misuse, "only a stored result's outcome can be built at once"))
            return python.newNone()
        }
        return connection.outcomeObjects(of: self, options: options, python: python, failed: failed)
    }
}

extension MariaDBConnection {
    /// `runForPython`'s outcome as Python objects rather than a pickle:
    /// (fields, rows, tail), fields being the same nested pickle bytes the
    /// pickle outcome carries (the binding's cache key for descriptions),
    /// tail None when rows are left for `continueForPythonObjects`. Rows
    /// are read in batches without the GIL (the next one by a helper while
    /// this one is built, as the pickle's); the GIL is held only while the
    /// objects are built. A new reference; on failure a new reference to
    /// None, the failure given to `failed`.
    public func runForPythonObjects(_ sql: UnsafeRawBufferPointer, options: MariaDBResult.PickleOptions,
                                    python: PythonRuntime, failed: (PoolError) -> Void) -> PythonRuntime.Object
    {
        objectsOutcome(options: options, python: python, failed: failed) { () throws(PoolError) in
            try query(sql)
        }
    }

    /// `executeForPython`'s outcome as Python objects, shaped as
    /// `runForPythonObjects`' (its batches read by `continueForPythonObjects`).
    public func executeForPythonObjects(_ sql: UnsafeRawBufferPointer, parameters: [SQLParameter],
                                        options: MariaDBResult.PickleOptions, python: PythonRuntime,
                                        failed: (PoolError) -> Void) -> PythonRuntime.Object
    {
        objectsOutcome(options: options, python: python, failed: failed) { () throws(PoolError) in
            let statement = try prepare(sql)
            pythonStatement = statement
            try execute(statement, parameters: parameters)
        }
    }

    /// Runs a statement (`run`, after the previous outcome is dropped) and
    /// builds its outcome's first batch (see `runForPythonObjects`).
    private func objectsOutcome(options: MariaDBResult.PickleOptions, python: PythonRuntime,
                                failed: (PoolError) -> Void, _ run: () throws(PoolError) -> Void)
        -> PythonRuntime.Object
    {
        let builder = PythonObjectBuilder(python: python)
        var fields: PickleRowEncoder?
        var columns = 0
        let tail: [UInt64?]?
        do throws(PoolError) {
            abandonPythonOutcome()
            givePythonStatementBack()
            try run()
            if let result = try useResult() {
                fields = result.fieldsPickle(options)
                columns = Int(result.fieldCount)
                tail = try nextRawBatch(of: result, options: options, first: true).map(resultTail)
            } else {
                tail = [affectedRows, insertID, UInt64(warningCount), UInt64(serverStatus)]
            }
        } catch {
            failed(error)
            return builder.withGIL { builder.none() }
        }
        return buildOutcome(builder, failed: failed) { () throws(PythonFailure) in
            try builder.outcome(fields: fields, rows: rawBatches.current, columns: columns, tail: tail)
        }
    }

    /// `outcomeForPython` (a stored result's whole outcome, no I/O) as
    /// Python objects, shaped as `runForPythonObjects`'. The result is freed.
    func outcomeObjects(of result: MariaDBResult, options: MariaDBResult.PickleOptions, python: PythonRuntime,
                        failed: (PoolError) -> Void) -> PythonRuntime.Object
    {
        let builder = PythonObjectBuilder(python: python)
        let fields = result.fieldsPickle(options)
        var rows = RawRows()
        let failure = rows.fill(from: result, options: options, upTo: .max)
        let tail = resultTail(result.rowCount)
        let columns = Int(result.fieldCount)
        result.free()
        if let failure {
            failed(failure)
            return builder.withGIL { builder.none() }
        }
        return buildOutcome(builder, failed: failed) { () throws(PythonFailure) in
            try builder.outcome(fields: fields, rows: rows, columns: columns, tail: tail)
        }
    }

    /// The next batch of the outcome `runForPythonObjects` started, as the
    /// tuple (rows, tail) shaped as there; None on failure (see there).
    public func continueForPythonObjects(options: MariaDBResult.PickleOptions, python: PythonRuntime,
                                         failed: (PoolError) -> Void) -> PythonRuntime.Object
    {
        let builder = PythonObjectBuilder(python: python)
        let columns: Int
        let tail: [UInt64?]?
        do throws(PoolError) {
            settle()
            let result = try continuingOutcome(options: options, asObjects: true)
            columns = Int(result.fieldCount)
            tail = try nextRawBatch(of: result, options: options, first: false).map(resultTail)
        } catch {
            failed(error)
            return builder.withGIL { builder.none() }
        }
        return buildOutcome(builder, failed: failed) { () throws(PythonFailure) in
            try builder.tuple(2) { part throws(PythonFailure) in
                part == 0 ? try builder.rows(of: rawBatches.current, columns: columns) : try builder.tail(tail)
            }
        }
    }

    /// (affected_rows, insert_id, warning_count, server_status) of a result
    /// set of `rows` rows, as PyMySQL reports it.
    func resultTail(_ rows: UInt64) -> [UInt64?] {
        [rows, nil, UInt64(warningCount), UInt64(serverStatus)]
    }

    /// Builds an outcome under the GIL. When CPython fails (out of memory),
    /// its exception is cleared, the rest of the outcome dropped (after the
    /// GIL is let go: that reads from the server), and None returned.
    private func buildOutcome(_ builder: PythonObjectBuilder, failed: (PoolError) -> Void,
                              _ build: () throws(PythonFailure) -> PythonRuntime.Object) -> PythonRuntime.Object
    {
        let outcome = builder.withGIL { () -> PythonRuntime.Object? in
            do throws(PythonFailure) {
                return try build()
            } catch {
                builder.python.errClear()
                return nil
            }
        }
        if outcome == nil { abandonPythonOutcome() }
        trimRawBatches()
        if let outcome { return outcome }
        failed(PoolError(.noMemory, "CPython could not build the statement's objects (out of memory?)"))
        return builder.withGIL { builder.none() }
    }
}
