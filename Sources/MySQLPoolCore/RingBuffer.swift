/// A double-ended queue that reuses its storage: once grown, pushing and
/// popping allocate nothing (the checkout path must not allocate).
struct RingBuffer<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 0) {
        storage = Array(repeating: nil, count: Swift.max(capacity, 4))
    }

    var isEmpty: Bool { count == 0 }

    var first: Element? { count == 0 ? nil : storage[head] }

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// Removes the most recently appended element.
    mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        let index = (head + count - 1) % storage.count
        let element = storage[index]
        storage[index] = nil
        count -= 1
        return element
    }

    /// Removes the first element matching `predicate`, keeping the order of
    /// the others. O(n); used only when a waiter gives up.
    @discardableResult
    mutating func removeFirst(where predicate: (Element) -> Bool) -> Element? {
        guard let offset = (0..<count).first(where: { predicate(storage[(head + $0) % storage.count]!) })
        else { return nil }
        let removed = storage[(head + offset) % storage.count]
        for index in offset..<(count - 1) {
            storage[(head + index) % storage.count] = storage[(head + index + 1) % storage.count]
        }
        storage[(head + count - 1) % storage.count] = nil
        count -= 1
        return removed
    }

    mutating func removeAll() -> [Element] {
        var all: [Element] = []
        while let element = popFirst() { all.append(element) }
        return all
    }

    private mutating func grow() {
        var bigger: [Element?] = Array(repeating: nil, count: storage.count * 2)
        for index in 0..<count { bigger[index] = storage[(head + index) % storage.count] }
        storage = bigger
        head = 0
    }
}
