package dev.baton.examples.lockctl;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** lockctl's JSON writer, read back by the independent test reader. */
class JsonTest {

    @Test
    void stringsWithQuotesBackslashesAndControlCharactersSurviveTheRoundTrip() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("thread", "pool \"A\" \\ worker\n\t\u0001 é");
        doc.put("token", 4294967301L);
        doc.put("count", 3);
        doc.put("held", true);
        doc.put("delay", null);
        doc.put("list", List.of("a", List.of(), Map.of()));
        String text = Json.write(doc);

        assertEquals(false, text.contains("\n"), text);
        Map<String, Object> back = MiniJson.object(text);
        assertEquals("pool \"A\" \\ worker\n\t\u0001 é", back.get("thread"));
        assertEquals(4294967301L, back.get("token"));
        assertEquals(3L, back.get("count"));
        assertEquals(true, back.get("held"));
        assertEquals(true, back.containsKey("delay"));
        assertEquals(null, back.get("delay"));
        assertEquals(Arrays.asList("a", List.of(), Map.of()), back.get("list"));
        assertEquals(List.of("thread", "token", "count", "held", "delay", "list"), List.copyOf(back.keySet()));
    }
}
