// Preloaded into a child server (startChildServer's `preload`) by the start-up test: records the
// package of every import the server's own modules make (static or dynamic), one per line, in the
// file named by ENTITLE_TEST_IMPORTS_FILE, so a test can see which libraries a start loaded.

import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url, {
  data: { file: process.env.ENTITLE_TEST_IMPORTS_FILE },
});
