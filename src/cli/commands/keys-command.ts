// entitle keys generate|rotate

import type { Command } from 'commander';
import { ConfigError, productionKeysProblem } from '../../config.js';
import { addDevKey, generateKeyEntry, openTokenCipher } from '../../secrets/encryption-keys.js';
import { rotateSecrets } from '../../secrets/rotate-secrets.js';
import type { CliContext } from '../cli-context.js';

export function registerKeys(program: Command, context: CliContext): void {
  const keys = program.command('keys').description('encryption keys for OAuth tokens at rest');

  keys
    .command('generate')
    .description('print a new key entry for ENTITLE_ENCRYPTION_KEYS')
    .option('--id <keyId>', 'key id (default: k<date>-<random>)')
    .action((options: { id?: string }) => {
      context.out(generateKeyEntry(options.id));
    });

  keys
    .command('rotate')
    .description(
      're-encrypt every stored token and webhook signing secret under the active key (ENTITLE_ENCRYPTION_KEY_ID)',
    )
    .option('--generate', 'development key file only: add a new key, make it active, then re-encrypt')
    .option('--actor <actor>', 'who to name in the audit log')
    .action(async (options: { generate?: boolean; actor?: string }) => {
      const { config } = context;
      const keysProblem = productionKeysProblem(config);
      if (keysProblem) throw new ConfigError([keysProblem]);
      let cipher;
      if (options.generate) {
        if (config.encryption.keys.size > 0) {
          throw new Error(
            '--generate manages the development key file; with ENTITLE_ENCRYPTION_KEYS, add a key there (entitle keys generate) and set ENTITLE_ENCRYPTION_KEY_ID',
          );
        }
        cipher = addDevKey(config.databasePath);
      } else {
        cipher = openTokenCipher(config.encryption, config.databasePath);
      }
      const rewritten = await rotateSecrets(await context.store(), cipher, { actor: context.actor(options.actor) });
      context.out(`re-encrypted ${rewritten} secret${rewritten === 1 ? '' : 's'} under key ${cipher.activeKeyId}`);
    });
}
