/** Builds the operator console into `outdir` (default dist/console-ui) and returns it. */
export function buildConsole(outdir?: string): Promise<string>;
