import type { SecretValue } from "./types.ts";

/**
 * Turns secret text into a value: text that parses as a JSON object becomes that object, any
 * other text stays a string. Parse errors are swallowed on purpose: their messages quote the
 * input, which is secret.
 */
export function secretFromText(text: string): SecretValue {
  const trimmed = text.trim();
  if (trimmed.startsWith("{") && trimmed.endsWith("}")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        return parsed as Record<string, unknown>;
      }
    } catch {
      // Not JSON: a plain string.
    }
  }
  return text;
}
