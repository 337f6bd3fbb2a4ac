#if canImport(Glibc)
import Glibc
#endif
import CMariaDB
import Synchronization

/// A batch of a streaming Python outcome's rows (see runForPython): a pickle
/// of them, or their raw cells for the object builder.
protocol RowBatch: SendableMetatype {
    init()
    /// Reads the result's next rows into the batch, which it empties first,
    /// up to about `MariaDBConnection.pythonBatchBytes`; the error that cut
    /// them short, if any. Touches only the result and the batch, so a
    /// read-ahead helper may run it.
    mutating func fill(from result: MariaDBResult, options: MariaDBResult.PickleOptions) -> PoolError?
}

/// A streaming outcome's batches: the one handed out last (`current`), and
/// the next one read by a helper thread meanwhile, when there is a second
/// CPU: reading from the server and building Python objects then use two
/// cores. The connection settles the helper before anything else uses the
/// result (MariaDBConnection.settle).
struct BatchPipeline<Batch: RowBatch> {
    /// The batch handed out last; it stays valid until the next one.
    var current = Batch()
    /// The buffer the next batch is read into ahead: the one handed out the
    /// time before, which the reader is done with once it asks again.
    private var spare = Batch()
    private var job: ReadAheadJob<Batch>?
    private var finished: (batch: Batch, failure: PoolError?)?

    /// Waits for the helper, if one runs, and keeps its batch for `next`.
    mutating func settle(inherited: Bool) {
        guard let job = job.take() else { return }
        // After fork() the helper is the parent's: nothing here to join.
        guard !inherited else { return }
        finished = job.join()
    }

    /// Starts reading the batch after `current` on a helper.
    mutating func readAhead(_ result: MariaDBResult, options: MariaDBResult.PickleOptions) {
        job = ReadAheadJob.start(result, options: options, taking: &spare)
    }

    /// Makes the result's next batch `current`: the one read ahead, or one
    /// read now. The error that cut it short, if any.
    mutating func next(_ result: MariaDBResult, options: MariaDBResult.PickleOptions) -> PoolError? {
        guard var done = finished.take() else { return current.fill(from: result, options: options) }
        // No copies: the batch read ahead becomes current, and current the spare.
        swap(&current, &done.batch)
        swap(&spare, &done.batch)
        return done.failure
    }

    /// Forgets a batch read ahead, and lets the spare go, so that an idle
    /// connection keeps one buffer.
    mutating func end() {
        finished = nil
        spare = Batch()
    }
}

extension BatchPipeline where Batch == RawRows {
    /// Lets the current batch go when it keeps more than `limit` bytes.
    mutating func trim(above limit: Int) {
        if current.retainedBytes > limit { current = RawRows() }
    }
}

/// The helper thread reading one batch ahead (see BatchPipeline).
final class ReadAheadJob<Batch: RowBatch>: @unchecked Sendable {
    private var thread: JoinableThread?
    private var batch = Batch()
    private let result: MariaDBResult
    private let options: MariaDBResult.PickleOptions
    private var failure: PoolError?

    /// Starts the helper, which takes `buffer` (left empty) and reads the
    /// next batch into it; nil when no thread could be made: the buffer
    /// stays, and the caller reads the batch itself when asked.
    static func start(_ result: MariaDBResult, options: MariaDBResult.PickleOptions,
                      taking buffer: inout Batch) -> ReadAheadJob? {
        let job = ReadAheadJob(result, options: options)
        swap(&job.batch, &buffer)
        job.thread = JoinableThread.start { job.failure = job.batch.fill(from: job.result, options: job.options) }
        guard job.thread != nil else {
            swap(&job.batch, &buffer)
            return nil
        }
        ReadAhead.started.add(1, ordering: .relaxed)
        return job
    }

    private init(_ result: MariaDBResult, options: MariaDBResult.PickleOptions) {
        self.result = result
        self.options = options
    }

    /// Waits for the helper: the batch, and the error that cut it short.
    func join() -> (batch: Batch, failure: PoolError?) {
        thread?.join()
        thread = nil  // its closure holds this job (and so the result and its connection): no cycle left
        var batch = Batch()
        swap(&batch, &self.batch)  // moved out: a shared buffer would be copied on its next write
        return (batch, failure)
    }
}

/// A thread running one closure, to be joined.
final class JoinableThread {
    private var thread = pthread_t()
    private let work: @Sendable () -> Void

    private init(_ work: @escaping @Sendable () -> Void) { self.work = work }

    /// The started thread, or nil when none could be made.
    static func start(_ work: @escaping @Sendable () -> Void) -> JoinableThread? {
        let runner = JoinableThread(work)
        let context = Unmanaged.passRetained(runner).toOpaque()
        let created = pthread_create(&runner.thread, nil, { raw in
            Unmanaged<JoinableThread>.fromOpaque(raw!).takeRetainedValue().work()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<JoinableThread>.fromOpaque(context).release()
            return nil
        }
        return runner
    }

    func join() { pthread_join(thread, nil) }
}

/// When batches are read ahead.
enum ReadAhead {
    /// Read-ahead pays only with a second CPU to run on: pinned to one
    /// (taskset, a cpuset) the helper would only take turns with the
    /// decoding thread, 4% slower in an A/B here. Asked per large outcome,
    /// as the affinity can change.
    static var hasSecondCPU: Bool {
        switch mode.load(ordering: .relaxed) {
        case Mode.always.rawValue: true
        case Mode.never.rawValue: false
        default: mysqlpool_usable_cpus() > 1
        }
    }

    /// For tests: read ahead whatever the CPUs, or never; and how many
    /// helpers started.
    enum Mode: Int { case auto = 0, always, never }
    static let mode = Atomic<Int>(Mode.auto.rawValue)
    static let started = Atomic<Int>(0)
}

extension PickleRowEncoder: RowBatch {
    /// The pickle of a batch's rows, as the start of a tuple (rows, tail)
    /// that the reader ends (see MariaDBConnection.closeBatch).
    mutating func fill(from result: MariaDBResult, options: MariaDBResult.PickleOptions) -> PoolError? {
        begin()
        beginTuple()
        return MariaDBConnection.appendBatchRows(of: result, options: options, to: &self)
    }
}

/// A batch of rows copied out of libmariadb's buffer (a streaming result's
/// row is valid only until the next fetch), each cell's text already read
/// as the value it makes (PythonValue): on a read-ahead helper that parsing
/// runs beside the object builder, leaving it only the constructors.
struct RawRows: RowBatch {
    struct Cell {
        /// Where the cell's bytes start in `bytes`, and how many (-1: NULL).
        var start: Int, count: Int
        /// What the text makes; `.text` only when it is UTF-8 (else `.bytes`).
        var value: PythonValue
    }

    /// The cells' bytes, one after another.
    private(set) var bytes: [UInt8] = []
    /// Row by row.
    private(set) var cells: [Cell] = []
    private(set) var rowCount = 0

    init() {}

    /// The memory the batch keeps allocated.
    var retainedBytes: Int { bytes.capacity + cells.capacity * MemoryLayout<Cell>.stride }

    mutating func fill(from result: MariaDBResult, options: MariaDBResult.PickleOptions) -> PoolError? {
        fill(from: result, options: options, upTo: MariaDBConnection.pythonBatchBytes)
    }

    /// The next rows, up to about `limit` bytes as the pickle of the same
    /// rows counts them (the texts and ~16 per cell; a Cell takes 80 in
    /// memory, which would cut batches 4x smaller than the pickle's, each
    /// a foreign call and a read-ahead thread).
    mutating func fill(from result: MariaDBResult, options: MariaDBResult.PickleOptions, upTo limit: Int)
        -> PoolError?
    {
        bytes.removeAll(keepingCapacity: true)
        cells.removeAll(keepingCapacity: true)
        rowCount = 0
        result.preparePickleKinds(options)
        let kinds = result.pickleKinds
        do {
            while bytes.count + cells.count * 16 < limit,
                  let row = try result.fetch()
            {
                for column in 0..<kinds.count {
                    guard let cell = row.values[column] else {
                        cells.append(Cell(start: 0, count: -1, value: .bytes))
                        continue
                    }
                    let text = UnsafeBufferPointer(start: UnsafeRawPointer(cell).assumingMemoryBound(to: UInt8.self),
                                                   count: Int(row.lengths[column]))
                    var value = PythonValue(text, kinds[column])
                    if case .text = value, !isValidUTF8(text) { value = .bytes }
                    cells.append(Cell(start: bytes.count, count: text.count, value: value))
                    bytes.append(contentsOf: text)
                }
                rowCount += 1
            }
            return nil
        } catch {
            return error
        }
    }
}
