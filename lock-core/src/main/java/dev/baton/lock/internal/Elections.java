package dev.baton.lock.internal;

import dev.baton.lock.LockKey;

import java.net.InetAddress;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/** Checks and defaults shared by the election implementations. Not part of Baton's API. */
public final class Elections {
    /** The longest participant id accepted. */
    public static final int MAX_PARTICIPANT_ID = 1024;

    private Elections() {
    }

    /** {@code host:pid:random}, e.g. {@code billing-3:4711:9f2c1a}. */
    public static String defaultParticipantId() {
        return hostName() + ":" + ProcessHandle.current().pid() + ":"
                + String.format("%06x", ThreadLocalRandom.current().nextInt(1 << 24));
    }

    /** This host's name, or {@code unknown-host} if it cannot be had. */
    public static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception | Error e) {
            return "unknown-host";
        }
    }

    /**
     * The election's name as a key.
     *
     * @throws IllegalArgumentException naming the input and the rule, if it is not a valid key
     */
    public static LockKey checkName(String name) {
        Objects.requireNonNull(name, "election name must not be null");
        try {
            return LockKey.parse(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Invalid election name \"" + name + "\": " + e.getMessage(), e);
        }
    }

    /** A job's name: one key segment. */
    public static String checkJobName(String name) {
        Objects.requireNonNull(name, "job name must not be null");
        try {
            return LockKey.of(name).toString();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Invalid job name \"" + name + "\": " + e.getMessage(), e);
        }
    }

    /** A participant id: non-blank, at most {@link #MAX_PARTICIPANT_ID} characters. */
    public static String checkParticipantId(String id) {
        Objects.requireNonNull(id, "participantId must not be null");
        if (id.isBlank()) {
            throw new IllegalArgumentException("participantId must not be blank");
        }
        if (id.length() > MAX_PARTICIPANT_ID) {
            throw new IllegalArgumentException("participantId must be at most " + MAX_PARTICIPANT_ID
                    + " characters, got " + id.length());
        }
        return id;
    }
}
