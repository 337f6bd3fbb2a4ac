import Synchronization

/// A process-wide increasing id.
final class AtomicCounter: Sendable {
    private let value = Atomic<UInt64>(0)

    func add() -> UInt64 {
        value.wrappingAdd(1, ordering: .relaxed).newValue
    }
}
