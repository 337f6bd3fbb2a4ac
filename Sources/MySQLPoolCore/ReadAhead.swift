#if canImport(Glibc)
import Glibc
#endif
import CMariaDB
import Synchronization

/// The next batch of a large Python outcome (see runForPython), encoded by a
/// helper thread while the borrower's thread decodes the batch before it:
/// reading from the server and building Python objects then use two cores.
/// The helper touches only the result and its own encoder; the connection
/// joins it before anything else uses either (MariaDBConnection.settle).
final class ReadAhead: @unchecked Sendable {
    private var thread = pthread_t()
    private var encoder = PickleRowEncoder()
    private let result: MariaDBResult
    private let options: MariaDBResult.PickleOptions
    private var failure: PoolError?

    /// Starts the helper, which takes `buffer` (left empty) and encodes the
    /// next batch into it; nil when no thread could be made: the buffer
    /// stays, and the caller encodes the batch itself when asked.
    static func start(_ result: MariaDBResult, options: MariaDBResult.PickleOptions,
                      taking buffer: inout PickleRowEncoder) -> ReadAhead? {
        let job = ReadAhead(result, options: options)
        swap(&job.encoder, &buffer)
        let context = Unmanaged.passRetained(job).toOpaque()
        let created = pthread_create(&job.thread, nil, { raw in
            Unmanaged<ReadAhead>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<ReadAhead>.fromOpaque(context).release()
            swap(&job.encoder, &buffer)
            return nil
        }
        started.add(1, ordering: .relaxed)
        return job
    }

    private init(_ result: MariaDBResult, options: MariaDBResult.PickleOptions) {
        self.result = result
        self.options = options
    }

    private func run() {
        encoder.begin()
        encoder.beginTuple()
        failure = MariaDBConnection.appendBatchRows(of: result, options: options, to: &encoder)
    }

    /// Waits for the helper: the encoder with the batch's rows, and the
    /// error that cut them short, if any.
    func join() -> (encoder: PickleRowEncoder, failure: PoolError?) {
        pthread_join(thread, nil)
        var batch = PickleRowEncoder()
        swap(&batch, &encoder)  // moved out: a shared buffer would be copied on its next write
        return (batch, failure)
    }

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
