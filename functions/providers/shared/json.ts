/** A parsed JSON value's fields, when it is an object (not an array, not null). */
export type Json = Record<string, unknown>;

export function jsonObject(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

/** The parsed text, or undefined when it is not JSON. */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
