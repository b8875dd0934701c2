package dev.baton.lock;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A property checked on many generated inputs, reproducibly: try {@code i} draws its input from
 * a {@link Random} seeded with the run's seed plus {@code i}, so a failure names the seed and
 * the input, and {@code -Dbaton.seed=<seed>} runs the same inputs again. The run's seed is
 * random unless that property is set. Shared by the modules' property tests (lock-core's
 * test-jar); plain JUnit, so surefire counts each property as one test.
 */
public final class Tries {
    private Tries() {
    }

    /**
     * Checks {@code property} on {@code tries} inputs made by {@code generate}.
     *
     * @throws AssertionError naming the seed, the try and the input, caused by the first failure
     */
    public static <T> void check(int tries, Function<Random, T> generate, Consumer<T> property) {
        long seed = Long.getLong("baton.seed", new Random().nextLong());
        for (int i = 0; i < tries; i++) {
            T input = generate.apply(new Random(seed + i));
            try {
                property.accept(input);
            } catch (Throwable failure) {
                throw new AssertionError("Falsified on try " + i + " of seed " + seed + " (again with -Dbaton.seed="
                        + seed + "): " + shown(input), failure);
            }
        }
    }

    /** An input for a failure message: strings quoted with their escapes, cut to 300 characters each. */
    public static String shown(Object input) {
        if (input instanceof String s) {
            StringBuilder b = new StringBuilder("\"");
            for (int i = 0; i < s.length() && i < 300; i++) {
                char c = s.charAt(i);
                b.append(c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c));
            }
            return b.append(s.length() > 300 ? "\"...(" + s.length() + " characters)" : "\"").toString();
        }
        if (input instanceof Object[] array) {
            List<String> parts = new ArrayList<>();
            for (Object o : array) {
                parts.add(shown(o));
            }
            return parts.toString();
        }
        if (input instanceof List<?> list) {
            return shown(list.toArray());
        }
        if (input instanceof byte[] bytes) {
            return bytes.length + " bytes";
        }
        return String.valueOf(input);
    }

    // ------------------------------------------------------------------------ generators

    /** One of {@code choices}. */
    @SafeVarargs
    public static <T> T oneOf(Random r, T... choices) {
        return choices[r.nextInt(choices.length)];
    }

    /**
     * A length up to {@code max}, small ones more likely, and the bounds themselves often: most
     * bugs live at 0, 1 and the limits.
     */
    public static int length(Random r, int max) {
        return switch (r.nextInt(6)) {
            case 0 -> 0;
            case 1 -> max;
            case 2 -> r.nextInt(max + 1);
            default -> Math.min(max, r.nextInt(8));
        };
    }

    /** A string of {@code length} characters drawn from {@code alphabet}. */
    public static String of(Random r, String alphabet, int length) {
        StringBuilder b = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            b.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return b.toString();
    }

    /**
     * Any text up to {@code max} characters: ASCII, controls, line breaks, accented and wide
     * characters, pairs that make one code point, and lone halves of them.
     */
    public static String anyText(Random r, int max) {
        int length = length(r, max);
        StringBuilder b = new StringBuilder(length);
        while (b.length() < length) {
            switch (r.nextInt(8)) {
                case 0 -> b.append((char) r.nextInt(0x20)); // C0 controls, line breaks among them
                case 1 -> b.append(oneOf(r, '\n', '\r', '\u2028', '\u0085', '\u001b', '\u202e', '\u0000'));
                case 2 -> b.append((char) (0xa0 + r.nextInt(0x2f00))); // Latin-1 up to CJK
                case 3 -> b.appendCodePoint(0x10000 + r.nextInt(0x10000)); // a surrogate pair
                case 4 -> b.append((char) (0xd800 + r.nextInt(0x800))); // half of one
                default -> b.append((char) (0x20 + r.nextInt(0x5f))); // printable ASCII
            }
        }
        return b.length() > length ? b.substring(0, length) : b.toString();
    }

    /** Any bytes up to {@code max}: random, or UTF-8 text, or text that begins like {@code prefix}. */
    public static byte[] anyBytes(Random r, int max, String prefix) {
        return switch (r.nextInt(3)) {
            case 0 -> {
                byte[] bytes = new byte[length(r, max)];
                r.nextBytes(bytes);
                yield bytes;
            }
            case 1 -> anyText(r, max).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            default -> (prefix + anyText(r, max)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        };
    }
}
