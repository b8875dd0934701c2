package dev.baton.lock;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LockOptions}' withers as a property, against a model of what each should keep: any
 * sequence of calls with any values leaves every valid value in place, refuses every invalid
 * one with an exception naming the option (and the value), and never changes an instance.
 */
class LockOptionsPropertiesTest {
    /** What the options should hold. */
    private record Model(LockMode mode, Duration waitAtMost, Duration leaseTime, Duration staleAfter,
                         Duration lockDelay, boolean interruptOnLoss) {
    }

    /** One wither call: the option it sets and the value. */
    private record Call(String option, Object value) {
        @Override
        public String toString() {
            return option + "(" + value + ")";
        }
    }

    @Test
    void withersKeepValidValuesAndRefuseInvalidOnesNamingThem() {
        Tries.check(1000, r -> {
            List<Call> calls = new ArrayList<>();
            for (int n = 1 + r.nextInt(8); n > 0; n--) {
                String option = Tries.oneOf(r, "mode", "waitAtMost", "waitForever", "leaseTime", "staleAfter",
                        "lockDelay", "interruptOnLoss");
                Object value = switch (option) {
                    case "mode" -> r.nextInt(8) == 0 ? null : Tries.oneOf(r, LockMode.values());
                    case "interruptOnLoss" -> r.nextBoolean();
                    case "waitForever" -> null;
                    default -> duration(r);
                };
                calls.add(new Call(option, value));
            }
            return calls;
        }, calls -> {
            LockOptions options = LockOptions.defaults();
            Model model = new Model(LockMode.EXCLUSIVE, null, null, null, null, true);
            for (Call call : calls) {
                LockOptions before = options;
                Model expected = apply(model, call);
                LockOptions after;
                try {
                    after = call(options, call);
                } catch (Throwable e) {
                    assertEquals(null, expected, () -> call + " refused a valid value: " + e);
                    assertRefusal(call, e);
                    assertSame(model, before); // unchanged
                    continue;
                }
                assertTrue(expected != null, call + " accepted an invalid value");
                assertSame(expected, after);
                assertSame(model, before);
                LockOptions rebuilt = build(expected);
                assertEquals(rebuilt, after, "equal to the same values set in another order");
                assertEquals(rebuilt.hashCode(), after.hashCode());
                options = after;
                model = expected;
            }
        });
    }

    /** The model after {@code call}, or null if the call must be refused. */
    private static Model apply(Model m, Call call) {
        Object v = call.value();
        Duration d = v instanceof Duration ? (Duration) v : null;
        boolean nonNegative = d != null && !d.isNegative();
        boolean positive = nonNegative && !d.isZero();
        return switch (call.option()) {
            case "mode" -> v == null ? null : new Model((LockMode) v, m.waitAtMost, m.leaseTime, m.staleAfter,
                    m.lockDelay, m.interruptOnLoss);
            case "waitAtMost" -> !nonNegative ? null
                    : new Model(m.mode, d, m.leaseTime, m.staleAfter, m.lockDelay, m.interruptOnLoss);
            case "waitForever" -> new Model(m.mode, null, m.leaseTime, m.staleAfter, m.lockDelay, m.interruptOnLoss);
            case "leaseTime" -> !positive ? null
                    : new Model(m.mode, m.waitAtMost, d, m.staleAfter, m.lockDelay, m.interruptOnLoss);
            case "staleAfter" -> !positive ? null
                    : new Model(m.mode, m.waitAtMost, m.leaseTime, d, m.lockDelay, m.interruptOnLoss);
            case "lockDelay" -> !positive ? null
                    : new Model(m.mode, m.waitAtMost, m.leaseTime, m.staleAfter, d, m.interruptOnLoss);
            case "interruptOnLoss" -> new Model(m.mode, m.waitAtMost, m.leaseTime, m.staleAfter, m.lockDelay, (Boolean) v);
            default -> throw new IllegalStateException(call.option());
        };
    }

    /** Options holding the model's values, set in a fixed order. */
    private static LockOptions build(Model m) {
        LockOptions o = LockOptions.defaults().interruptOnLoss(m.interruptOnLoss()).mode(m.mode());
        o = m.lockDelay() == null ? o : o.lockDelay(m.lockDelay());
        o = m.staleAfter() == null ? o : o.staleAfter(m.staleAfter());
        o = m.leaseTime() == null ? o : o.leaseTime(m.leaseTime());
        return m.waitAtMost() == null ? o : o.waitAtMost(m.waitAtMost());
    }

    private static LockOptions call(LockOptions o, Call call) {
        Object v = call.value();
        return switch (call.option()) {
            case "mode" -> o.mode((LockMode) v);
            case "waitAtMost" -> o.waitAtMost((Duration) v);
            case "waitForever" -> o.waitForever();
            case "leaseTime" -> o.leaseTime((Duration) v);
            case "staleAfter" -> o.staleAfter((Duration) v);
            case "lockDelay" -> o.lockDelay((Duration) v);
            case "interruptOnLoss" -> o.interruptOnLoss((Boolean) v);
            default -> throw new IllegalStateException(call.option());
        };
    }

    private static void assertRefusal(Call call, Throwable e) {
        String message = String.valueOf(e.getMessage());
        assertTrue(message.contains(call.option()), () -> call + ": the message names the option: " + message);
        if (call.value() == null) {
            assertInstanceOf(NullPointerException.class, e, call + ": " + e);
        } else {
            assertInstanceOf(IllegalArgumentException.class, e, call + ": " + e);
            assertTrue(message.contains(call.value().toString()), () -> call + ": the message echoes the value: " + message);
        }
    }

    private static void assertSame(Model m, LockOptions o) {
        assertEquals(m.mode(), o.mode());
        assertEquals(Optional.ofNullable(m.waitAtMost()), o.waitAtMost());
        assertEquals(Optional.ofNullable(m.leaseTime()), o.leaseTime());
        assertEquals(Optional.ofNullable(m.staleAfter()), o.staleAfter());
        assertEquals(Optional.ofNullable(m.lockDelay()), o.lockDelay());
        assertEquals(m.interruptOnLoss(), o.interruptOnLoss());
    }

    /** Null, negative, zero, the smallest, ordinary and the largest durations. */
    private static Duration duration(Random r) {
        return switch (r.nextInt(9)) {
            case 0 -> null;
            case 1 -> Duration.ZERO;
            case 2 -> Duration.ofNanos(Tries.oneOf(r, 1L, -1L));
            case 3 -> Duration.ofSeconds(Long.MAX_VALUE, 999_999_999);
            case 4 -> Duration.ofSeconds(Long.MIN_VALUE);
            case 5 -> Duration.ofMillis(-1 - r.nextInt(100_000));
            default -> Duration.ofNanos(r.nextLong() >>> r.nextInt(64));
        };
    }
}
