/// Something that receives training events: a log file, the console, a test.
public protocol EventSink: AnyObject {
    func record(_ event: TrainingEvent)
}

/// Sends every event to several sinks in order.
public final class EventFanOut: EventSink {
    private let sinks: [any EventSink]

    public init(_ sinks: [any EventSink]) { self.sinks = sinks }

    public func record(_ event: TrainingEvent) {
        for sink in sinks { sink.record(event) }
    }
}

/// Keeps every event in memory; for tests and small tools.
public final class EventRecorder: EventSink {
    public private(set) var events: [TrainingEvent] = []

    public init() {}

    public func record(_ event: TrainingEvent) { events.append(event) }
}
