/**
 * A small HTTP proxy in front of the test S3 server. It records every request (method, path, headers,
 * body size) and, per rule, answers with a canned S3/STS response, resets the connection, or delays
 * before forwarding. Rules are matched in order; each fires `times` times (default: always).
 *
 * It lets the suite show what s3rver alone cannot: 503 SlowDown, 500, AccessDenied (with or without
 * a KMS message), 301 PermanentRedirect, 412, resets, timeouts — and STS answers for role auth.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';

export interface RecordedRequest {
  method: string;
  /** Path with query string, as sent (path-style: /bucket/key?query). */
  path: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  /** The body as text when it is small (STS form posts, CompleteMultipartUpload XML). */
  bodyText?: string;
}

export type FaultAction =
  | { respond: { status: number; headers?: Record<string, string>; body?: string } }
  | { reset: true }
  | { delayMs: number }
  /** Reads this many bytes of the request body, then stops reading and never answers: a stalled upload. */
  | { stallAfterBytes: number }
  /** Reads the request body at this rate, then forwards it: an upload that is slow but moving. */
  | { bytesPerSecond: number };

export interface FaultRule {
  method?: string;
  /** Tested against the path with query string. */
  path?: RegExp;
  /** Tested against the body text (STS form posts carry Action=…). */
  body?: RegExp;
  times?: number;
  action: FaultAction;
}

export interface FaultProxy {
  url: string;
  requests: RecordedRequest[];
  rule(rule: FaultRule): void;
  clearRules(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: Array<FaultRule & { fired: number }> = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  /** Rules acting on the body while it arrives (stall, trickle) are chosen on method and path alone. */
  const streamingRule = (req: http.IncomingMessage) =>
    rules.find(
      (r) =>
        ('stallAfterBytes' in r.action || 'bytesPerSecond' in r.action) &&
        (r.times === undefined || r.fired < r.times) &&
        (!r.method || r.method === req.method) &&
        (!r.path || r.path.test(req.url ?? '/')),
    );

  const server = http.createServer((req, res) => {
    const streaming = streamingRule(req);
    if (streaming) streaming.fired += 1;
    const chunks: Buffer[] = [];
    let received = 0;
    const started = Date.now();
    if (streaming && 'stallAfterBytes' in streaming.action) {
      const limit = streaming.action.stallAfterBytes;
      req.on('data', (c: Buffer) => {
        received += c.length;
        // Stop reading: the client's writes fill the socket buffers and then wait, for ever.
        if (received >= limit) req.pause();
      });
      requests.push({ method: req.method ?? '', path: req.url ?? '/', headers: req.headers, bodyBytes: -1 });
      return;
    }
    if (streaming && 'bytesPerSecond' in streaming.action) {
      const rate = streaming.action.bytesPerSecond;
      req.on('data', (c: Buffer) => {
        received += c.length;
        const due = started + (received / rate) * 1000;
        if (due > Date.now()) {
          req.pause();
          setTimeout(() => req.resume(), due - Date.now());
        }
      });
    }
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const bodyText = body.length <= 64 * 1024 ? body.toString('utf8') : undefined;
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, headers: req.headers, bodyBytes: body.length, ...(bodyText !== undefined ? { bodyText } : {}) });
      const rule = rules.find(
        (r) =>
          !('stallAfterBytes' in r.action || 'bytesPerSecond' in r.action) &&
          (r.times === undefined || r.fired < r.times) &&
          (!r.method || r.method === req.method) &&
          (!r.path || r.path.test(path)) &&
          (!r.body || (bodyText !== undefined && r.body.test(bodyText))),
      );
      if (rule) rule.fired += 1;
      const action = rule?.action;
      if (action && 'reset' in action) {
        req.socket.destroy();
        return;
      }
      if (action && 'respond' in action) {
        const { status, headers = {}, body: text = '' } = action.respond;
        res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'FAULTPROXY', ...headers });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      const forward = () => {
        const out = http.request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path, headers: { ...req.headers, host: upstream.host } },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        out.on('error', () => res.destroy());
        out.end(body);
      };
      if (action && 'delayMs' in action) {
        const timer = setTimeout(forward, action.delayMs);
        res.on('close', () => clearTimeout(timer));
      } else {
        forward();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    rule(rule) {
      rules.push({ ...rule, fired: 0 });
    },
    clearRules() {
      rules.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An S3 error response as S3 sends it. */
export function s3Error(status: number, code: string, message: string, headers: Record<string, string> = {}, extra = ''): FaultAction {
  return {
    respond: {
      status,
      headers,
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${extra}<RequestId>FAULTPROXY</RequestId></Error>`,
    },
  };
}

/** An STS (awsQuery) error response. */
export function stsError(status: number, code: string, message: string): FaultAction {
  return {
    respond: {
      status,
      headers: { 'content-type': 'text/xml' },
      body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>FAULTPROXY</RequestId></ErrorResponse>`,
    },
  };
}

/** A successful AssumeRoleWithWebIdentity answer with made-up session credentials. */
export function stsAssumeRoleSuccess(opts: { roleArn: string; subject: string; audience: string; expiresInMs?: number }): FaultAction {
  const expiration = new Date(Date.now() + (opts.expiresInMs ?? 3_600_000)).toISOString();
  const roleName = opts.roleArn.split('/').pop() ?? 'role';
  const account = /::(\d*):/.exec(opts.roleArn)?.[1] ?? '';
  return {
    respond: {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body:
        `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>` +
        `<SubjectFromWebIdentityToken>${xmlEscape(opts.subject)}</SubjectFromWebIdentityToken><Audience>${xmlEscape(opts.audience)}</Audience>` +
        `<AssumedRoleUser><Arn>arn:aws:sts::${account}:assumed-role/${roleName}/session</Arn><AssumedRoleId>AROAFAULTPROXY:session</AssumedRoleId></AssumedRoleUser>` +
        `<Credentials><AccessKeyId>ASIAFAULTPROXY0001</AccessKeyId><SecretAccessKey>fault-proxy-secret-key-0000000000000000</SecretAccessKey>` +
        `<SessionToken>fault-proxy-session-token</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
        `<Provider>fault-proxy</Provider></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>FAULTPROXY</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
    },
  };
}

/** Access key and secret of the canned STS session credentials above. */
export const CANNED_SESSION_KEY = { accessKeyId: 'ASIAFAULTPROXY0001', secretAccessKey: 'fault-proxy-secret-key-0000000000000000' };

/**
 * s3rver accepts only access key ids it knows (it does not check SigV4 signatures). Registers a
 * realistic key pair, and the canned STS session key, in its (process-wide) account registry.
 */
export function allowS3rverAccessKey(accessKeyId: string, secretAccessKey: string): void {
  const account = s3rverAccount();
  account.createKeyPair(accessKeyId, secretAccessKey);
  account.createKeyPair(CANNED_SESSION_KEY.accessKeyId, CANNED_SESSION_KEY.secretAccessKey);
}

function s3rverAccount(): { createKeyPair(id: string, secret: string): void } {
  const require = createRequire(import.meta.url);
  // s3rver keeps its accounts in a module-level registry; this is its own model, not a copy.
  const mod = require('s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };
  return mod.DUMMY_ACCOUNT;
}
