// The ";"-separated parameters after a filter's or verifier's name: words and name=value pairs.
/** "a;b=c;d" -> a set of words and a map of values. */
export function specParams(text: string): { words: Set<string>; values: Map<string, string> } {
  const words = new Set<string>();
  const values = new Map<string, string>();
  for (const part of text
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq > 0) values.set(part.slice(0, eq).toLowerCase(), part.slice(eq + 1));
    else words.add(part.toLowerCase());
  }
  return { words, values };
}
