// Worker-thread entry: reads and validates a policy (the YAML parse is the slow part: seconds
// for megabytes) and posts back the plain result. One job per worker; see policy-reader.ts.

import { parentPort, workerData } from 'node:worker_threads';
import { checkPolicyDirectory, checkPolicyTexts, type PolicyCheckResult } from './read-policy.js';

/** What a worker is started with. */
export type PolicyJob =
  | { readonly kind: 'texts'; readonly texts: readonly { readonly file: string; readonly text: string }[] }
  | { readonly kind: 'directory'; readonly dir: string; readonly relativeTo?: string };

async function run(job: PolicyJob): Promise<PolicyCheckResult> {
  return job.kind === 'texts' ? checkPolicyTexts(job.texts) : checkPolicyDirectory(job.dir, job.relativeTo);
}

if (parentPort) {
  const port = parentPort;
  void run(workerData as PolicyJob).then((result) => port.postMessage(result));
}
