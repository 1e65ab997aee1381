// Module hooks for record-imports.ts (they run on the loader's thread): a bare specifier
// imported by a module of src/ is a package the server loads; its name goes to the file.

import { appendFileSync } from 'node:fs';

let file;

export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (
    file &&
    parent.includes('/src/') &&
    !parent.includes('/node_modules/') &&
    /^[@a-z]/.test(specifier) &&
    !specifier.startsWith('node:')
  )
    appendFileSync(file, `${specifier}\n`);
  return next(specifier, context);
}
