import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSqsText, sqsAttributeText } from '../../../functions/adapters/sqs-message-text';

/** What SQS accepts in bodies and String attributes (SendMessage docs), written independently of the code. */
const SQS_MESSAGE_CHARACTERS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

describe('sqsAttributeText', () => {
  it('keeps text SQS accepts as it is: tabs, newlines, accents, emoji', () => {
    const text = 'HTTP 500:\tupstream\r\nпроизошла ошибка 🎧 ok';
    expect(sqsAttributeText(text, 1000)).toBe(text);
  });

  it('spells out each refused character as \\uXXXX', () => {
    expect(sqsAttributeText('a\u0000b\u001fc\uFFFEd\uFFFFe\uD800f\uDFFFg', 1000)).toBe(
      'a\\u0000b\\u001Fc\\uFFFEd\\uFFFFe\\uD800f\\uDFFFg',
    );
  });

  it('cuts at the bound in code points, never inside a surrogate pair, and marks the cut', () => {
    const cut = sqsAttributeText('🎧'.repeat(20), 10);
    expect([...cut]).toHaveLength(10);
    expect(cut).toBe(`${'🎧'.repeat(9)}…`);
    expect(cut).toMatch(SQS_MESSAGE_CHARACTERS);
  });

  it('never returns an empty value, which SQS refuses too', () => {
    expect(sqsAttributeText('', 10)).toBe('-');
  });

  it('always returns text SQS accepts, within the bound, whatever it is given', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.integer({ min: 2, max: 200 }),
        (text, max) => {
          const safe = sqsAttributeText(text, max);
          expect(safe).toMatch(SQS_MESSAGE_CHARACTERS);
          expect(isSqsText(safe)).toBe(true);
          expect([...safe].length).toBeLessThanOrEqual(max);
        },
      ),
      { seed: 7_731, numRuns: 300 },
    );
  });
});
