// The stores `entitle import` is tested into: another SQLite file always, and PostgreSQL (a schema
// of its own, dropped afterwards) when DATABASE_URL is set.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Env } from '../../src/config.js';

export interface ImportTarget {
  readonly name: string;
  readonly env: () => Env;
  readonly cleanup?: (env: Env) => Promise<void>;
}

export function importTargets(): ImportTarget[] {
  const targets: ImportTarget[] = [
    {
      name: 'another SQLite file',
      env: () => ({ ENTITLE_DB: join(mkdtempSync(join(tmpdir(), 'entitle-target-')), 'target.db'), DATABASE_URL: '' }),
    },
  ];
  if (process.env.DATABASE_URL) {
    targets.push({
      name: 'PostgreSQL',
      env: () => ({
        DATABASE_URL: process.env.DATABASE_URL as string,
        DATABASE_SCHEMA: `entitle_import_${randomBytes(6).toString('hex')}`,
      }),
      cleanup: async (env) => {
        const client = new pg.Client({ connectionString: env.DATABASE_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${env.DATABASE_SCHEMA}" CASCADE`);
        await client.end();
      },
    });
  }
  return targets;
}
