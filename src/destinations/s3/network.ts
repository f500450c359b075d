/**
 * The network rules for every connection Sluice opens to a destination (S3 and STS alike): plain
 * http only when the operator allows it, and never an address in a refused range unless the operator
 * allow-listed it. `decideAddress` is the one function that judges an address; the agents below call
 * it on the address actually dialled — after DNS, at connect time — so a name that resolved to a
 * public address when the destination was saved and to 127.0.0.1 later (DNS rebinding) is refused,
 * and a worker applies its operator's settings of now, not those in force when the destination was
 * saved.
 *
 * Refused ranges follow the IANA IPv4 and IPv6 special-purpose address registries (every entry: none
 * of them hosts an S3 store), plus multicast, and every IPv6 address outside global unicast
 * (2000::/3). IPv6 forms that carry an IPv4 address — IPv4-mapped, IPv4-translated, NAT64
 * 64:ff9b::/96 and 6to4 2002::/16 — are judged by the IPv4 address they carry; the deprecated
 * IPv4-compatible ::/96 and local-use NAT64 64:ff9b:1::/48 are refused whole.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import ipaddr from 'ipaddr.js';

export interface EndpointPolicy {
  allowHttp: boolean;
  /** Hostnames, IP addresses or CIDRs that may be used although they are loopback, private or reserved. */
  allowlist: readonly string[];
}

export type ResolvedAddress = { address: string; family: 4 | 6 };
/** Resolves a host name to every address it has (tests pass their own; production uses the system resolver). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) =>
  (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

type IP = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [IP, number];

function cidr(text: string): Range {
  return ipaddr.parseCIDR(text);
}

const IPV4_REFUSED: Array<[Range, string]> = [
  [cidr('0.0.0.0/8'), 'a "this network"'],
  [cidr('10.0.0.0/8'), 'a private'],
  [cidr('100.64.0.0/10'), 'a shared (carrier-grade NAT)'],
  [cidr('127.0.0.0/8'), 'a loopback'],
  [cidr('169.254.0.0/16'), 'a link-local (cloud metadata)'],
  [cidr('172.16.0.0/12'), 'a private'],
  [cidr('192.0.0.0/24'), 'an IETF protocol assignment'],
  [cidr('192.0.2.0/24'), 'a documentation'],
  [cidr('192.31.196.0/24'), 'an AS112'],
  [cidr('192.52.193.0/24'), 'an AMT'],
  [cidr('192.88.99.0/24'), 'a 6to4 relay anycast'],
  [cidr('192.168.0.0/16'), 'a private'],
  [cidr('192.175.48.0/24'), 'an AS112'],
  [cidr('198.18.0.0/15'), 'a benchmarking'],
  [cidr('198.51.100.0/24'), 'a documentation'],
  [cidr('203.0.113.0/24'), 'a documentation'],
  [cidr('224.0.0.0/4'), 'a multicast'],
  // 240.0.0.0/4 includes the limited broadcast address 255.255.255.255.
  [cidr('240.0.0.0/4'), 'a reserved'],
];

const IPV6_REFUSED: Array<[Range, string]> = [
  [cidr('::/128'), 'an unspecified'],
  [cidr('::1/128'), 'a loopback'],
  [cidr('::/96'), 'a deprecated IPv4-compatible'],
  [cidr('64:ff9b:1::/48'), 'a local-use NAT64'],
  [cidr('100::/64'), 'a discard-only'],
  [cidr('100:0:0:1::/64'), 'a dummy'],
  // Teredo (2001::/32, whose embedded addresses are obfuscated), ORCHID, AMT, AS112, benchmarking, …
  [cidr('2001::/23'), 'an IETF protocol assignment'],
  [cidr('2001:db8::/32'), 'a documentation'],
  [cidr('2620:4f:8000::/48'), 'an AS112'],
  [cidr('3fff::/20'), 'a documentation'],
  [cidr('5f00::/16'), 'an SRv6 SID'],
  [cidr('fc00::/7'), 'a unique-local'],
  [cidr('fe80::/10'), 'a link-local'],
  [cidr('fec0::/10'), 'a site-local'],
  [cidr('ff00::/8'), 'a multicast'],
];

const GLOBAL_UNICAST = cidr('2000::/3');

/** IPv6 forms that carry an IPv4 address (named with their article), and where it sits. */
const EMBEDDING: Array<[Range, string, (ip: ipaddr.IPv6) => ipaddr.IPv4]> = [
  [cidr('::ffff:0:0/96'), 'an IPv4-mapped', (ip) => v4(ip.parts[6], ip.parts[7])],
  [cidr('::ffff:0:0:0/96'), 'an IPv4-translated', (ip) => v4(ip.parts[6], ip.parts[7])],
  [cidr('64:ff9b::/96'), 'a NAT64', (ip) => v4(ip.parts[6], ip.parts[7])],
  [cidr('2002::/16'), 'a 6to4', (ip) => v4(ip.parts[1], ip.parts[2])],
];

function v4(hi = 0, lo = 0): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

/**
 * Parses an address that net.isIP accepted. A dotted-quad tail of an IPv6 address is rewritten as two
 * hex groups first: ipaddr.js reads `::127.0.0.1` as the IPv4-mapped `::ffff:7f00:1`, which is a
 * different address (the deprecated IPv4-compatible form is refused whole, a mapped one is judged by
 * what it carries).
 */
function parseIp(text: string): IP {
  const tail = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (tail && net.isIPv6(text)) {
    const [a, b, c, d] = tail.slice(2).map(Number) as [number, number, number, number];
    return ipaddr.IPv6.parse(`${tail[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`);
  }
  return ipaddr.parse(text);
}

function inRange(ip: IP, range: Range): boolean {
  return ip.kind() === range[0].kind() && ip.match(range);
}

/** The IPv4 address an IPv6 address carries, with the name of the form, if it is one of those forms. */
function embeddedIPv4(ip: IP): { v4: ipaddr.IPv4; form: string } | null {
  if (ip.kind() !== 'ipv6') return null;
  for (const [range, form, extract] of EMBEDDING) {
    if (inRange(ip, range)) return { v4: extract(ip as ipaddr.IPv6), form };
  }
  return null;
}

function refusedKind(ip: IP): string | null {
  const embedded = embeddedIPv4(ip);
  if (embedded) {
    const inner = refusedKind(embedded.v4);
    return inner ? `${embedded.form} form of ${inner}` : null;
  }
  const table = ip.kind() === 'ipv4' ? IPV4_REFUSED : IPV6_REFUSED;
  for (const [range, kind] of table) if (inRange(ip, range)) return kind;
  if (ip.kind() === 'ipv6' && !inRange(ip, GLOBAL_UNICAST)) return 'a non-global';
  return null;
}

interface ParsedAllowlist {
  hosts: Set<string>;
  ranges: Range[];
}

const allowlists = new WeakMap<readonly string[], ParsedAllowlist>();

function parseAllowlist(list: readonly string[]): ParsedAllowlist {
  const cached = allowlists.get(list);
  if (cached) return cached;
  const parsed: ParsedAllowlist = { hosts: new Set(), ranges: [] };
  for (const raw of list) {
    const entry = raw.trim().replace(/^\[|\]$/g, '');
    if (entry.includes('/') && ipaddr.isValidCIDR(entry)) parsed.ranges.push(ipaddr.parseCIDR(entry));
    else if (net.isIP(entry)) {
      const ip = parseIp(entry);
      parsed.ranges.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else parsed.hosts.add(entry.toLowerCase());
  }
  allowlists.set(list, parsed);
  return parsed;
}

export type AddressDecision = { allowed: true } | { allowed: false; kind: string; message: string };

/**
 * Whether Sluice may connect to `address` (an IP address as dialled) for `host` (the name in the
 * endpoint URL, when there is one). The only place that decides it: validation when a destination is
 * saved and every socket Sluice opens to a destination call this.
 */
export function decideAddress(address: string, policy: EndpointPolicy, host?: string): AddressDecision {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const label = host && host !== bare ? `host ${host} resolves to` : 'the endpoint is';
  if (!net.isIP(bare)) return { allowed: false, kind: 'an invalid', message: `${label} "${bare}", which is not an IP address` };
  const allow = parseAllowlist(policy.allowlist);
  if (host && allow.hosts.has(host.toLowerCase().replace(/^\[|\]$/g, ''))) return { allowed: true };
  const ip = parseIp(bare);
  const embedded = embeddedIPv4(ip);
  const views: IP[] = embedded ? [ip, embedded.v4] : [ip];
  if (allow.ranges.some((r) => views.some((v) => inRange(v, r)))) return { allowed: true };
  const kind = refusedKind(ip);
  if (!kind) return { allowed: true };
  return {
    allowed: false,
    kind,
    message: `${label} ${kind} address ${bare}, which is refused; the operator can allow it with SLUICE_ENDPOINT_ALLOWLIST`,
  };
}

/** The scheme rule: https always, http only where the operator allows it. */
export function decideScheme(protocol: string, policy: EndpointPolicy): string | null {
  if (protocol === 'https:') return null;
  if (protocol === 'http:') {
    return policy.allowHttp ? null : 'must use https://; plain http is refused unless the operator sets SLUICE_ALLOW_HTTP_ENDPOINTS=true';
  }
  return 'must use https:// (or http:// where the operator allows it)';
}

/** Error code of a connection the network rules refused; errors.ts turns it into `endpoint_refused`. */
export const REFUSED_CODE = 'ERR_SLUICE_ENDPOINT_REFUSED';

export function refusedError(message: string): Error & { code: string } {
  return Object.assign(new Error(`Sluice refused to connect: ${message}.`), { code: REFUSED_CODE });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** A `lookup` for net/tls sockets that resolves with `resolver` and hands back only allowed addresses. */
export function guardedLookup(policy: EndpointPolicy, resolver: Resolver = systemResolver) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolver(hostname).then(
      (found) => {
        const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        const refusals: string[] = [];
        const allowed = wanted.filter((a) => {
          const d = decideAddress(a.address, policy, hostname);
          if (!d.allowed) refusals.push(d.message);
          return d.allowed;
        });
        if (allowed.length === 0) {
          callback(refusals[0] ? refusedError(refusals[0]) : Object.assign(new Error(`host ${hostname} has no address`), { code: 'ENOTFOUND' }), '');
          return;
        }
        if (options.all) callback(null, allowed);
        else callback(null, (allowed[0] as ResolvedAddress).address, (allowed[0] as ResolvedAddress).family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, ''),
    );
  };
}

interface ConnectOptions {
  host?: string | null;
  hostname?: string | null;
}

/** Checks a host given as an IP literal (no lookup happens for those); null when the connection may go ahead. */
function literalRefusal(options: ConnectOptions, policy: EndpointPolicy): Error | null {
  const host = (options.hostname ?? options.host ?? '').replace(/^\[|\]$/g, '');
  if (!net.isIP(host)) return null;
  const d = decideAddress(host, policy);
  return d.allowed ? null : refusedError(d.message);
}

type CreateConnection = (options: unknown, callback: (err: Error | null, socket?: Duplex) => void) => Duplex | undefined;

function guard(agent: http.Agent, policy: EndpointPolicy, scheme: 'http:' | 'https:'): void {
  // createConnection is the one place every socket of the agent is made: refuse before any packet.
  const self = agent as unknown as { createConnection: CreateConnection };
  const original = self.createConnection.bind(agent);
  self.createConnection = (options, callback) => {
    const schemeProblem = decideScheme(scheme, policy);
    const refusal = schemeProblem ? refusedError(`the endpoint ${schemeProblem}`) : literalRefusal(options as ConnectOptions, policy);
    if (refusal) {
      process.nextTick(() => callback(refusal));
      return undefined;
    }
    return original(options, callback);
  };
}

export interface GuardedAgents {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** HTTP(S) agents whose every connection obeys `policy` on the address actually dialled. */
export function guardedAgents(policy: EndpointPolicy, resolver?: Resolver): GuardedAgents {
  const lookup = guardedLookup(policy, resolver) as unknown as net.LookupFunction;
  const httpAgent = new http.Agent({ keepAlive: true, lookup });
  const httpsAgent = new https.Agent({ keepAlive: true, lookup });
  guard(httpAgent, policy, 'http:');
  guard(httpsAgent, policy, 'https:');
  return { httpAgent, httpsAgent };
}

/** What an AWS SDK client needs to make every request through guarded agents. */
export interface NetworkGuard {
  policy: EndpointPolicy;
  /** Test hook: the resolver the agents use (system DNS otherwise). */
  resolver?: Resolver;
}

export function guardedRequestHandler(guard: NetworkGuard, timeouts: { connectionTimeout: number; requestTimeout?: number; socketTimeout?: number }) {
  return { ...guardedAgents(guard.policy, guard.resolver), ...timeouts, throwOnRequestTimeout: true };
}
