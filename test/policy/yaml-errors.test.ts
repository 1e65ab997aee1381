// Duplicate keys are found in one pass over the parsed document (addDuplicateKeyErrors) rather
// than by the yaml library's check, which compares every key with each earlier one of its map:
// the errors must be the library's own, at the same offsets, in the same order.

import { LineCounter, parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { addDuplicateKeyErrors } from '../../src/policy/yaml-errors.js';

const errors = (text: string, uniqueKeys: boolean) => {
  const parsed = parseDocument(text, { lineCounter: new LineCounter(), prettyErrors: false, uniqueKeys });
  const document = uniqueKeys ? parsed : addDuplicateKeyErrors(parsed);
  return document.errors.map((error) => ({ code: error.code, pos: error.pos, message: error.message }));
};

const TEXTS = {
  'no duplicates': 'features:\n  a:\n    default: 1\n  b:\n    default: 2\n',
  'top level': 'features:\n  a: 1\nplans: {}\nfeatures:\n  b: 2\n',
  nested: 'features:\n  a:\n    default: 1\n    default: 2\n  a:\n    x: 1\n',
  'three times': 'a: 1\nb: 2\na: 3\na: 4\n',
  'flow maps': 'features: { a: 1, b: 2, a: 3 }\nlist: [{ x: 1, x: 2 }]\n',
  'equal values, not equal text': "1: one\n'1': string one\n0x1: hex one\ntrue: yes\nTrue: again\n",
  'with anchors and tags': 'a: &x 1\n&k b: 2\n!!str b: 3\n*x : 4\nc: *x\n',
  'null keys': '? \n: 1\n~: 2\nnull: 3\n',
  'beside a syntax error': 'a: 1\nb: [1, 2\na: 2\n',
  'beside an indentation error': 'a:\n  b: 1\n   c: 2\n  b: 3\na: 4\n',
};

describe('duplicate YAML keys', () => {
  for (const [name, text] of Object.entries(TEXTS))
    it(`are the errors the library reports: ${name}`, () => {
      const library = errors(text, true);
      expect(library.some((error) => error.code === 'DUPLICATE_KEY')).toBe(name !== 'no duplicates');
      expect(errors(text, false)).toEqual(library);
    });

  it('are found among many thousands of keys, at the repeated one', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `  k${i}: ${i}\n`);
    const text = `features:\n${keys.join('')}  k7: again\n`;
    const found = errors(text, false);
    expect(found).toEqual([
      {
        code: 'DUPLICATE_KEY',
        pos: [text.lastIndexOf('k7:'), text.lastIndexOf('k7:') + 1],
        message: expect.any(String),
      },
    ]);
  });
});
