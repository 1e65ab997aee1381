// How hard property and fuzz tests try: a quick pass in `npm test`, many more runs in
// `npm run test:reliability` (ENTITLE_RELIABILITY=1).

export const RELIABILITY = process.env.ENTITLE_RELIABILITY === '1';

export function runs(quick: number, thorough: number): number {
  return RELIABILITY ? thorough : quick;
}
