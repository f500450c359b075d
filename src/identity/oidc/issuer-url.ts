/**
 * The issuer URL of Sluice's own OIDC identity: SLUICE_PUBLIC_URL. AWS fetches the discovery document
 * and keys over public HTTPS, so http is accepted only for a loopback host (tests, Ceph RGW on the
 * same machine) or when the operator explicitly allows it.
 */
import net from 'node:net';
import { SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

export interface IssuerUrlInput {
  publicUrl: string | undefined;
  port: number;
  allowHttp: boolean;
  log: Logger;
}

const DOCS = 'docs/identity-and-trust.md';

export function resolveIssuerUrl(input: IssuerUrlInput): string {
  if (!input.publicUrl) {
    const fallback = `http://127.0.0.1:${input.port}`;
    input.log.warn(
      { issuer: fallback },
      'SLUICE_PUBLIC_URL is not set: the OIDC issuer is local only; AWS cannot reach it, so set SLUICE_PUBLIC_URL to the public https URL of this Sluice for real destinations',
    );
    return fallback;
  }
  let url: URL;
  try {
    url = new URL(input.publicUrl);
  } catch {
    throw issuerError(`SLUICE_PUBLIC_URL (${input.publicUrl}) is not a URL.`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw issuerError('SLUICE_PUBLIC_URL must not contain a query, a fragment or credentials.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw issuerError(`SLUICE_PUBLIC_URL must be an https URL, not ${url.protocol}.`);
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === 'http:' && !loopback && !input.allowHttp) {
    throw issuerError(
      'SLUICE_PUBLIC_URL must be https: AWS fetches the issuer\'s keys over public HTTPS only.',
      'Serve Sluice behind TLS and set SLUICE_PUBLIC_URL=https://…; for an S3-compatible store on a private network set SLUICE_OIDC_ALLOW_HTTP=true.',
    );
  }
  if (loopback) {
    input.log.warn({ issuer: url.origin }, 'the OIDC issuer is on a loopback address: AWS cannot reach it');
  }
  // IAM compares issuers as strings: no trailing slash, keep any path.
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1';
  return false;
}

function issuerError(message: string, hint = 'Set SLUICE_PUBLIC_URL to the public https URL where this Sluice serves /.well-known/.'): SluiceError {
  return new SluiceError({ code: 'invalid_issuer_url', message, hint, docs: DOCS, actor: 'provider' });
}
