/**
 * The one function that decides an address (network.ts): every range of the IANA special-purpose
 * registries, and every IPv6 form that carries an IPv4 address, judged by what it carries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAddress, decideScheme, type EndpointPolicy } from '../../src/destinations/s3/network.js';

const strict: EndpointPolicy = { allowHttp: false, allowlist: [] };

function refused(address: string, policy = strict): string {
  const d = decideAddress(address, policy);
  assert.equal(d.allowed, false, `${address} must be refused`);
  return d.allowed ? '' : d.kind;
}

function allowed(address: string, policy = strict): void {
  assert.deepEqual(decideAddress(address, policy), { allowed: true }, `${address} must be allowed`);
}

describe('IPv4 special-purpose ranges', () => {
  const cases: Array<[string, RegExp]> = [
    ['0.0.0.0', /this network/],
    ['0.1.2.3', /this network/],
    ['10.0.0.1', /private/],
    ['100.64.0.1', /carrier-grade/],
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['169.254.169.254', /metadata/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.0.0.1', /IETF protocol/],
    ['192.0.0.170', /IETF protocol/],
    ['192.0.2.1', /documentation/],
    ['192.31.196.1', /AS112/],
    ['192.52.193.1', /AMT/],
    ['192.88.99.1', /6to4 relay/],
    ['192.168.1.1', /private/],
    ['192.175.48.1', /AS112/],
    ['198.18.0.1', /benchmarking/],
    ['198.19.255.255', /benchmarking/],
    ['198.51.100.1', /documentation/],
    ['203.0.113.1', /documentation/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['255.255.255.255', /reserved/],
  ];
  for (const [address, kind] of cases) {
    it(`refuses ${address}`, () => assert.match(refused(address), kind));
  }
  it('allows public addresses next to the refused ranges', () => {
    for (const a of ['8.8.8.8', '52.216.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '192.0.1.1', '198.20.0.1', '223.255.255.255', '11.0.0.1']) allowed(a);
  });
});

describe('IPv6 special-purpose ranges', () => {
  const cases: Array<[string, RegExp]> = [
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['::127.0.0.1', /IPv4-compatible/],
    ['::8.8.8.8', /IPv4-compatible/],
    ['64:ff9b:1::a00:1', /local-use NAT64/],
    ['100::1', /discard/],
    ['2001::1', /IETF protocol/],
    ['2001:2::1', /IETF protocol/],
    ['2001:db8::1', /documentation/],
    ['2620:4f:8000::1', /AS112/],
    ['3fff::1', /documentation/],
    ['5f00::1', /SRv6/],
    ['fc00::1', /unique-local/],
    ['fd00:ec2::254', /unique-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['1::1', /non-global/],
    ['4000::1', /non-global/],
  ];
  for (const [address, kind] of cases) {
    it(`refuses ${address}`, () => assert.match(refused(address), kind));
  }
  it('allows global unicast', () => {
    for (const a of ['2600:1f18::1', '2a05:d018::1', '2001:4860:4860::8888']) allowed(a);
  });
});

describe('IPv6 forms of IPv4 addresses are judged by the address they carry', () => {
  const forms: Array<[string, string, RegExp]> = [
    ['::ffff:127.0.0.1', '::ffff:8.8.8.8', /IPv4-mapped form of a loopback/],
    ['::ffff:7f00:1', '::ffff:808:808', /IPv4-mapped form of a loopback/],
    ['::ffff:0:a9fe:a9fe', '::ffff:0:808:808', /IPv4-translated form of a link-local/],
    ['64:ff9b::127.0.0.1', '64:ff9b::8.8.8.8', /NAT64 form of a loopback/],
    ['64:ff9b::a00:1', '64:ff9b::808:808', /NAT64 form of a private/],
    ['64:ff9b::c000:1', '64:ff9b::3400:1', /NAT64 form of an IETF protocol/],
    ['2002:7f00:1::', '2002:808:808::1', /6to4 form of a loopback/],
    ['2002:a9fe:a9fe::1', '2002:34d8:101::', /6to4 form of a link-local/],
    ['2002:c0a8:101::', '2002:808:404::', /6to4 form of a private/],
  ];
  for (const [internal, external, kind] of forms) {
    it(`refuses ${internal}, allows ${external}`, () => {
      assert.match(refused(internal), kind);
      allowed(external);
    });
  }
});

describe('the operator allowlist', () => {
  it('allows an address, a CIDR or a host name, and the IPv6 forms of an allowed IPv4 address', () => {
    const policy: EndpointPolicy = { allowHttp: true, allowlist: ['127.0.0.1', '10.0.0.0/8', 'minio.internal', 'fd00::/8'] };
    allowed('127.0.0.1', policy);
    allowed('::ffff:127.0.0.1', policy);
    allowed('64:ff9b::7f00:1', policy);
    allowed('10.9.8.7', policy);
    allowed('fd00::5', policy);
    assert.deepEqual(decideAddress('192.168.0.9', policy, 'minio.internal'), { allowed: true });
    assert.deepEqual(decideAddress('192.168.0.9', policy, 'MINIO.internal'), { allowed: true });
    refused('127.0.0.2', policy);
    refused('192.168.0.9', policy);
    refused('::1', policy);
  });
  it('names the host, the kind and the address, and how to allow it', () => {
    const d = decideAddress('10.1.2.3', strict, 's3.sneaky.example');
    assert.ok(!d.allowed);
    assert.match(d.message, /^host s3\.sneaky\.example resolves to a private address 10\.1\.2\.3, which is refused; .*SLUICE_ENDPOINT_ALLOWLIST/);
  });
});

describe('schemes', () => {
  it('https always, http only when allowed, nothing else', () => {
    assert.equal(decideScheme('https:', strict), null);
    assert.match(decideScheme('http:', strict)!, /SLUICE_ALLOW_HTTP_ENDPOINTS/);
    assert.equal(decideScheme('http:', { allowHttp: true, allowlist: [] }), null);
    assert.match(decideScheme('ftp:', { allowHttp: true, allowlist: [] })!, /https/);
  });
});
