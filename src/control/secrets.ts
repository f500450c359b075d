/**
 * Secrets at rest: AES-256-GCM with a 32-byte key from SLUICE_SECRET_KEY, or, for the embedded
 * default, a key generated once into `<dataDir>/secret.key` (mode 0600).
 *
 * Each ciphertext is bound to what it protects through the GCM additional data (e.g.
 * `destination:dst_123:secret_access_key`), so a ciphertext copied onto another row fails to decrypt.
 * Stored layout: version byte (1) ‖ 12-byte nonce ‖ 16-byte tag ‖ ciphertext.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('secret key must be 32 bytes');
    this.#key = Buffer.from(key);
  }

  encrypt(plaintext: string | Buffer, context: string): Buffer {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]);
  }

  decrypt(stored: Buffer, context: string): Buffer {
    if (stored.length < 1 + NONCE_BYTES + TAG_BYTES || stored[0] !== VERSION) {
      throw cannotDecrypt(context);
    }
    const nonce = stored.subarray(1, 1 + NONCE_BYTES);
    const tag = stored.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key, nonce);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(stored.subarray(1 + NONCE_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw cannotDecrypt(context);
    }
  }

  decryptString(stored: Buffer, context: string): string {
    return this.decrypt(stored, context).toString('utf8');
  }
}

function cannotDecrypt(context: string): SluiceError {
  return new SluiceError({
    code: 'secret_undecryptable',
    message: `A stored secret (${context.split(':').slice(0, 2).join(':')}) cannot be decrypted with the current key.`,
    hint: 'SLUICE_SECRET_KEY differs from the key the secret was stored with. Restore the old key, or enter the secret again.',
    actor: 'provider',
    status: 500,
  });
}

/** Parses a key given as base64, base64url or hex. */
export function parseSecretKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) {
    throw new SluiceError({
      code: 'invalid_secret_key',
      message: `SLUICE_SECRET_KEY decodes to ${key.length} bytes; it must be 32.`,
      hint: 'Generate one with: openssl rand -base64 32',
    });
  }
  return key;
}

/** The key from the environment, else the data folder's key, created on first use. */
export async function loadSecretBox(opts: { secretKey?: string; dataDir: string; log: Logger }): Promise<SecretBox> {
  if (opts.secretKey) return new SecretBox(parseSecretKey(opts.secretKey));
  const file = path.join(opts.dataDir, 'secret.key');
  try {
    return new SecretBox(parseSecretKey(await fs.readFile(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(opts.dataDir, { recursive: true });
  const key = crypto.randomBytes(32);
  // 'wx': never overwrite a key another process has just written.
  await fs.writeFile(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' }).catch(async (err) => {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  });
  opts.log.warn({ file }, 'generated a secret key in the data folder; set SLUICE_SECRET_KEY in production');
  return new SecretBox(parseSecretKey(await fs.readFile(file, 'utf8')));
}
