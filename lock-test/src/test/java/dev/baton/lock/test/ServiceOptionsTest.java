package dev.baton.lock.test;

import dev.baton.lock.zk.LossPolicy;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ServiceOptionsTest {

    @Test
    void defaultsAreTheBuildersAndWithersMakeCopies() {
        ServiceOptions d = ServiceOptions.defaults();
        assertEquals(LossPolicy.LOSE_AT_SUSPENDED, d.lossPolicy());
        assertEquals(Duration.ofSeconds(20), d.sessionTimeout());
        assertEquals(Duration.ofSeconds(10), d.connectionTimeout());
        assertNull(d.defaultLeaseTime());
        assertFalse(d.isThroughProxy());

        ServiceOptions o = d.lossPolicy(LossPolicy.LOSE_AT_LOST).sessionTimeout(Duration.ofSeconds(2))
                .connectionTimeout(Duration.ofSeconds(3)).defaultLeaseTime(Duration.ofSeconds(4)).throughProxy();
        assertEquals(LossPolicy.LOSE_AT_LOST, o.lossPolicy());
        assertEquals(Duration.ofSeconds(2), o.sessionTimeout());
        assertEquals(Duration.ofSeconds(3), o.connectionTimeout());
        assertEquals(Duration.ofSeconds(4), o.defaultLeaseTime());
        assertTrue(o.isThroughProxy());
        assertEquals(ServiceOptions.defaults(), d, "withers changed the defaults");
        assertNotEquals(d, o);
        assertEquals(o, d.lossPolicy(LossPolicy.LOSE_AT_LOST).sessionTimeout(Duration.ofSeconds(2))
                .connectionTimeout(Duration.ofSeconds(3)).defaultLeaseTime(Duration.ofSeconds(4)).throughProxy());
    }

    @Test
    void badValuesFailAtOnceEchoingTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ServiceOptions.defaults().sessionTimeout(Duration.ofMillis(-5)));
        assertTrue(e.getMessage().contains("sessionTimeout") && e.getMessage().contains("PT-0.005S"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ServiceOptions.defaults().connectionTimeout(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> ServiceOptions.defaults().sessionTimeout(Duration.ofDays(30)));
        assertThrows(IllegalArgumentException.class, () -> ServiceOptions.defaults().defaultLeaseTime(Duration.ZERO));
        assertThrows(NullPointerException.class, () -> ServiceOptions.defaults().lossPolicy(null));
        assertThrows(IllegalArgumentException.class, () -> BatonZooKeeper.server().tickTime(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> BatonZooKeeper.cluster(1));
    }
}
