/**
 * Outside `functions/providers/` no module names a provider: config, core, composition, the hosts and
 * the scripts read the provider descriptors instead (README, "Adding a provider"). Comments may name
 * them; code may not, as a quoted string or inside an identifier.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

/** The shipped providers' names (a copy on purpose: the test must not trust the code it checks). */
const PROVIDER_NAMES = ['telphin', 'ringcentral', 'msgraph', 'msteams'];

/** Folders that must name no provider; `cdk` joins once the stack reads the descriptors. */
const CHECKED_FOLDERS = ['functions', 'scripts', 'cdk'];

/** Where provider names belong: the providers themselves and their simulators. */
const ALLOWED_PREFIXES = ['functions/providers/', 'sandbox/'];
/**
 * Sandbox and demo launchers: they start a named provider's simulator. They move out of `functions/`
 * with the simulators (issue 14, part 4).
 */
const LAUNCHERS = /^(functions\/local\/demo[\w-]*\.ts|scripts\/sandbox\.ts)$/;

interface Hit {
  kind: 'string' | 'identifier';
  text: string;
}

/** The code of a TypeScript source with its comments removed, and its string literals apart. */
function scan(source: string): { code: string; strings: string[] } {
  let code = '';
  const strings: string[] = [];
  let i = 0;
  while (i < source.length) {
    const char = source[i] as string;
    const next = source[i + 1];
    if (char === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i += 1;
    } else if (char === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 2;
    } else if (char === "'" || char === '"' || char === '`') {
      let text = '';
      i += 1;
      while (i < source.length && source[i] !== char) {
        if (source[i] === '\\') {
          text += source[i + 1] ?? '';
          i += 2;
        } else {
          text += source[i];
          i += 1;
        }
      }
      i += 1;
      strings.push(text);
      code += ' "" ';
    } else {
      code += char;
      i += 1;
    }
  }
  return { code, strings };
}

function providerNamesIn(source: string): Hit[] {
  const { code, strings } = scan(source);
  const hits: Hit[] = [];
  for (const text of strings) {
    for (const name of PROVIDER_NAMES) {
      if (new RegExp(`(^|[^a-z0-9])${name}([^a-z0-9]|$)`, 'i').test(text))
        hits.push({ kind: 'string', text });
    }
  }
  for (const identifier of code.match(/[A-Za-z_$][\w$]*/g) ?? []) {
    if (PROVIDER_NAMES.some((name) => identifier.toLowerCase().includes(name))) {
      hits.push({ kind: 'identifier', text: identifier });
    }
  }
  return hits;
}

function checkedFiles(): string[] {
  return CHECKED_FOLDERS.flatMap((folder) =>
    readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `${folder}/${name}`),
  ).filter((file) => !ALLOWED_PREFIXES.some((prefix) => file.startsWith(prefix)) && !LAUNCHERS.test(file));
}

describe('provider names', () => {
  it('are found as strings and inside identifiers, never in comments (so the check below can fail)', () => {
    const source = [
      '// ringcentral in a comment is fine',
      "/* so is 'msteams' here */",
      "if (source.provider === 'telphin') return;",
      'const route = `/webhooks/msgraph/` + id;',
      'import { RingCentralSource } from "x";',
      "const url = 'https://example.com/a//b'; const ok = 'teams';",
    ].join('\n');
    expect(providerNamesIn(source)).toEqual([
      { kind: 'string', text: 'telphin' },
      { kind: 'string', text: '/webhooks/msgraph/' },
      { kind: 'identifier', text: 'RingCentralSource' },
    ]);
  });

  it(`appear nowhere in ${CHECKED_FOLDERS.join(', ')} outside functions/providers/ and the simulators`, () => {
    const files = checkedFiles();
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((file) =>
      providerNamesIn(readFileSync(join(ROOT, file), 'utf8')).map(
        (hit) => `${file}: ${hit.kind} ${hit.text}`,
      ),
    );
    expect(found).toEqual([]);
  });
});
