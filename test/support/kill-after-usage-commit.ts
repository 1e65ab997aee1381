// Preloaded into a child server (startChildServer's `preload`) by the idempotency crash test:
// the process SIGKILLs itself right after the transaction of an idempotent usage write has
// committed, before any answer is sent — the worst moment for a client that will retry.

import { UsageStore } from '../../src/store/repositories/usage.js';

const key = process.env.ENTITLE_TEST_KILL_AFTER_KEY;
const consume = UsageStore.prototype.consume;
UsageStore.prototype.consume = async function (this: UsageStore, ...args: Parameters<UsageStore['consume']>) {
  const recorded = await consume.apply(this, args);
  if (!recorded.replayed && args[1]?.key === key) process.kill(process.pid, 'SIGKILL');
  return recorded;
} as UsageStore['consume'];
