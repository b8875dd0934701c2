package dev.baton.lock;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ValuesTest {

    @Test
    void optionsDefaultsAndWithers() {
        LockOptions d = LockOptions.defaults();
        assertEquals(LockMode.EXCLUSIVE, d.mode());
        assertEquals(Optional.empty(), d.waitAtMost());
        assertTrue(d.interruptOnLoss());
        LockOptions o = d.waitAtMost(Duration.ofSeconds(3)).mode(LockMode.SHARED).interruptOnLoss(false);
        assertEquals(Optional.of(Duration.ofSeconds(3)), o.waitAtMost());
        assertEquals(LockMode.SHARED, o.mode());
        assertFalse(o.interruptOnLoss());
        assertEquals(Optional.empty(), d.waitAtMost(), "a wither changed the original");
        assertEquals(Optional.empty(), o.waitForever().waitAtMost());
        assertEquals(o, d.mode(LockMode.SHARED).interruptOnLoss(false).waitAtMost(Duration.ofSeconds(3)));
        assertEquals(Optional.of(Duration.ZERO), d.waitAtMost(Duration.ZERO).waitAtMost());
    }

    @Test
    void optionsRejectBadDurationsNamingThem() {
        LockOptions d = LockOptions.defaults();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> d.waitAtMost(Duration.ofMillis(-1)));
        assertTrue(e.getMessage().contains("waitAtMost") && e.getMessage().contains("PT-0.001S"), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.leaseTime(Duration.ZERO))
                .getMessage().contains("leaseTime"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> d.staleAfter(Duration.ofSeconds(-5)))
                .getMessage().contains("staleAfter"));
        assertThrows(NullPointerException.class, () -> d.mode(null));
        assertThrows(NullPointerException.class, () -> d.waitAtMost(null));
    }

    @Test
    void tokensCompareByValue() {
        FencingToken a = FencingToken.of(10);
        FencingToken b = FencingToken.of(11);
        assertTrue(b.isNewerThan(a));
        assertFalse(a.isNewerThan(a));
        assertEquals(a, FencingToken.of(10));
        assertEquals(-1, a.compareTo(b));
        assertEquals(10, a.value());
        assertThrows(IllegalArgumentException.class, () -> FencingToken.of(0));
    }
}
