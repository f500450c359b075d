/**
 * One audience per destination: server-generated, immutable, non-secret and URL-safe. It plays the
 * role ExternalId plays for AssumeRole: a recipient's trust policy pins it, so a role configured for
 * one destination cannot be used for another recipient's destination (the confused deputy).
 */
import crypto from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** `sluice-` followed by 26 base32 characters (130 random bits). */
export function newAudience(): string {
  const bytes = crypto.randomBytes(26);
  let out = 'sluice-';
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

export function isAudience(value: string): boolean {
  return /^sluice-[a-z2-7]{26}$/.test(value);
}
