/**
 * SQS accepts only these characters in message bodies and in String attribute values (SendMessage):
 * #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF. Anything else makes SQS refuse
 * the whole message (InvalidMessageContents / InvalidParameterValue). Text from outside (a provider's error
 * page, a webhook field) can hold control characters, U+FFFE/U+FFFF or a lone surrogate.
 */

function allowed(codePoint: number): boolean {
  return (
    codePoint === 0x9 ||
    codePoint === 0xa ||
    codePoint === 0xd ||
    (codePoint >= 0x20 && codePoint <= 0xd7ff) ||
    (codePoint >= 0xe000 && codePoint <= 0xfffd) ||
    (codePoint >= 0x10000 && codePoint <= 0x10ffff)
  );
}

/**
 * A String attribute value SQS will take: each refused character becomes its `\uXXXX` spelling (still
 * readable in the console), and the result is cut to `maxCharacters` code points, never inside a
 * surrogate pair. SQS also refuses an empty String value, so an empty text becomes `-`.
 */
export function sqsAttributeText(text: string, maxCharacters: number): string {
  const characters: string[] = [];
  // for…of walks code points; a lone surrogate comes out on its own and is refused like any other.
  for (const character of text) {
    const codePoint = character.codePointAt(0) ?? 0;
    characters.push(
      allowed(codePoint) ? character : `\\u${codePoint.toString(16).toUpperCase().padStart(4, '0')}`,
    );
  }
  let safe = characters.join('');
  const codePoints = [...safe];
  if (codePoints.length > maxCharacters) safe = `${codePoints.slice(0, maxCharacters - 1).join('')}…`;
  return safe === '' ? '-' : safe;
}

/** True when SQS accepts every character of `text` (what the tests hold messages to). */
export function isSqsText(text: string): boolean {
  for (const character of text) if (!allowed(character.codePointAt(0) ?? 0)) return false;
  return true;
}
