/** Where the generated validator lives (src/policy/policy-schema.generated.ts). */
export const GENERATED: string;
/** The generated module's text for the schema of the tree. */
export function generatePolicyValidator(): string;
