package dev.baton.safety;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The append-only record of a safety run: every grant, loss notification, store operation,
 * release, connection change and fault, in the order the test process saw them. Thread-safe.
 */
public final class History {
    private final long origin;
    private final List<Event> events = new ArrayList<>();

    /** A history whose clock starts now. */
    public History() {
        this(System.nanoTime());
    }

    /** A history whose clock starts at {@code originNanos} ({@link System#nanoTime()} scale). */
    public History(long originNanos) {
        this.origin = originNanos;
    }

    /** Nanoseconds since the run started. */
    public long now() {
        return System.nanoTime() - origin;
    }

    /** Appends an event stamped now; returns it. */
    public Event record(String client, Event.Type type, String key, long token, long session, String op,
                        boolean accepted, long value, String detail) {
        synchronized (events) {
            Event e = new Event(events.size(), now(), client, type, key, token, session, op, accepted, value, detail);
            events.add(e);
            return e;
        }
    }

    /** Appends a fully formed event (hand-made histories in tests); its seq is replaced by its position. */
    public Event append(Event e) {
        synchronized (events) {
            Event placed = new Event(events.size(), e.nanos(), e.client(), e.type(), e.key(), e.token(), e.session(),
                    e.op(), e.accepted(), e.value(), e.detail());
            events.add(placed);
            return placed;
        }
    }

    /** A copy of every event so far, in order. */
    public List<Event> events() {
        synchronized (events) {
            return List.copyOf(events);
        }
    }

    /** Writes one readable line per event to {@code file}, with a header. */
    public void write(Path file, List<String> header) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (String h : header) {
                w.write("# " + h + "\n");
            }
            for (Event e : events()) {
                w.write(e.line());
                w.write('\n');
            }
        }
    }
}
