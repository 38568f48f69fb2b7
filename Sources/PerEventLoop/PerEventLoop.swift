import NIOCore

/// One `Value` per event loop of a group: made on first use, on its own loop, and used from that
/// loop only (the upstream pools, the Redis batchers, the request-metric recorders).
public final class PerEventLoop<Value: AnyObject>: Sendable {
    private let boxes: [ObjectIdentifier: (loop: any EventLoop, box: NIOLoopBoundBox<Value?>)]

    /// Room for one value per loop of `group`; none is made yet.
    public init(group: any EventLoopGroup) {
        var boxes: [ObjectIdentifier: (loop: any EventLoop, box: NIOLoopBoundBox<Value?>)] = [:]
        for loop in group.makeIterator() {
            boxes[ObjectIdentifier(loop)] = (loop, NIOLoopBoundBox.makeEmptyBox(valueType: Value.self, eventLoop: loop))
        }
        self.boxes = boxes
    }

    /// The loops of the group.
    public var loops: [any EventLoop] { boxes.values.map(\.loop) }

    /// The value of `eventLoop`, made by `make` on first use; call on that loop.
    public func value(on eventLoop: any EventLoop, make: (any EventLoop) -> Value) -> Value {
        guard let box = boxes[ObjectIdentifier(eventLoop)]?.box else {
            preconditionFailure("\(eventLoop) is not a loop of the group this was made for")
        }
        if let value = box.value { return value }
        let value = make(eventLoop)
        box.value = value
        return value
    }

    /// Runs `body` on each loop with that loop's value, if one was made, and gathers what it returns.
    public func gather<Result: Sendable>(_ body: @escaping @Sendable (Value) -> Result) async -> [Result] {
        var results: [Result] = []
        for (loop, box) in boxes.values {
            if let result = try? await loop.submit({ box.value.map(body) }).get() {
                results.append(result)
            }
        }
        return results
    }
}
