// Preloaded into a child server (startChildServer's `preload`) by the access-log tests: SIGUSR2
// throws an exception nothing catches, the fatal error a bug would cause. Plain JavaScript: it
// patches nothing of the server's, so the built server runs.

import process from 'node:process';
import { setImmediate } from 'node:timers';

process.on('SIGUSR2', () => {
  setImmediate(() => {
    throw new Error('injected fault');
  });
});
