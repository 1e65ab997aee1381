// The policy schema's validator is compiled ahead of time: the generated module must be what
// the generator writes from policies/schema.json today (edit the schema, run the script).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED, generatePolicyValidator } from '../../scripts/generate-policy-validator.mjs';

describe('the generated policy schema validator', () => {
  it('is what scripts/generate-policy-validator.mjs writes from policies/schema.json', () => {
    expect(readFileSync(GENERATED, 'utf8')).toBe(generatePolicyValidator());
  });
});
