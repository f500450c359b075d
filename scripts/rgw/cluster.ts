/**
 * A throwaway single-node Ceph cluster with radosgw on loopback: S3 + STS + IAM for the
 * AWS-compatibility suite. One mon, one memstore OSD, no mgr, no cephx, everything in one folder,
 * every daemon started by us and killed by us. Facts behind each setting: shared/reference/ceph-rgw.md.
 *
 * Nothing here survives a stop: memstore keeps the data in RAM, and stop() removes the folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { freePort } from '../../src/control/embedded.js';

export const RGW_PACKAGES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-common'];
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool'];

/** What a started cluster gives its users; also written to `<dir>/cluster.json`. */
export interface RgwInfo {
  /** S3 + STS + IAM. */
  endpoint: string;
  /**
   * The same zone through a second gateway with STS off. With `rgw s3 auth use sts = true`, RGW 16
   * answers a wrong access key or secret with AccessDenied (its STS engine's verdict); without it,
   * with InvalidAccessKeyId / SignatureDoesNotMatch as S3 does. Access-key tests use this one.
   */
  plainEndpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The admin user's id; its ARN is `arn:aws:iam:::user/<adminUser>` (RGW ARNs have no account). */
  adminUser: string;
  dir: string;
  pids: Record<string, number>;
  /** Milliseconds from start() to a ready, warmed-up endpoint. */
  startupMs: number;
}

export interface RgwCluster extends RgwInfo {
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Parent folder for the cluster's folder (default: the OS temp folder). */
  parent?: string;
  /** Let the daemons outlive this process (the CLI's `start`); stop them later with stopRgw(dir). */
  detached?: boolean;
  /** OSD capacity; memstore holds it in RAM only as it fills. */
  memstoreBytes?: number;
  log?: (line: string) => void;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

async function onPath(bin: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      await fsp.access(path.join(dir, bin), fs.constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

export async function missingBinaries(): Promise<string[]> {
  const missing: string[] = [];
  for (const bin of BINARIES) if (!(await onPath(bin))) missing.push(bin);
  return missing;
}

/** Installs Debian's Ceph packages when any binary is missing. Returns true when it installed them. */
export async function installRgw(log: (line: string) => void = () => {}): Promise<boolean> {
  const missing = await missingBinaries();
  if (missing.length === 0) return false;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Ceph is not installed (missing ${missing.join(', ')}) and installing it needs root. ` +
        `Run as root: apt-get install --no-install-recommends ${RGW_PACKAGES.join(' ')}`,
    );
  }
  log(`installing ${RGW_PACKAGES.join(' ')} (missing ${missing.join(', ')}); about a minute`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...RGW_PACKAGES]]) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`apt-get ${args.join(' ')} exited with ${code}`))));
    });
  }
  const still = await missingBinaries();
  if (still.length > 0) throw new Error(`after apt-get install, still missing: ${still.join(', ')}`);
  return true;
}

function cephConf(dir: string, fsid: string, monAddr: string, rgwPort: number, plainPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = ${monAddr}
public addr = 127.0.0.1
# No cephx: the cluster is private to one test run on loopback.
auth cluster required = none
auth service required = none
auth client required = none
# With auth none, msgr2 'secure' mode fails the handshake (radosgw hangs on mon config); use crc everywhere.
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
client mount timeout = 30
keyring = ${dir}/keyring
run dir = ${dir}
log file = ${dir}/$name.log
admin socket = ${dir}/$name.$pid.asok
# One OSD: pools of size 1 on a single host, no autoscaler (there is no mgr anyway).
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# Without this every pool creation waits ~1 s for paxos.
paxos propose interval = 0.1

[mon]
mon data = ${dir}/mon.$id

[osd]
osd data = ${dir}/osd.$id
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw thread pool size = 32
rgw enable apis = s3, sts, iam, admin
rgw s3 auth use sts = true
rgw sts key = ${randomBytes(8).toString('hex')}
rgw init timeout = 60
# Background work a test cluster does not need.
rgw enable gc threads = false
rgw enable lc threads = false
rgw enable quota threads = false

[client.rgw.plain]
rgw frontends = beast endpoint=127.0.0.1:${plainPort}
rgw data = ${dir}/rgw
rgw thread pool size = 8
rgw enable apis = s3
rgw s3 auth use sts = false
rgw init timeout = 60
rgw enable gc threads = false
rgw enable lc threads = false
rgw enable quota threads = false
`;
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

function startDaemon(dir: string, name: string, cmd: string, args: string[], detached: boolean): Daemon {
  const out = fs.openSync(path.join(dir, `${name}.out`), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], detached });
  fs.closeSync(out);
  if (detached) child.unref();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { name, child, exited };
}

async function tail(file: string, lines = 15): Promise<string> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

/** Resolves when `ready` returns true; rejects when a daemon exits first or the deadline passes. */
async function waitFor(what: string, ready: () => Promise<boolean>, daemons: Daemon[], dir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead: Daemon | undefined;
  for (const d of daemons) void d.exited.then(() => (dead ??= d));
  while (Date.now() < deadline) {
    if (dead) {
      throw new Error(`${dead.name} exited while waiting for ${what}:\n${await tail(path.join(dir, `${dead.name}.log`))}\n${await tail(path.join(dir, `${dead.name}.out`))}`);
    }
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function httpUp(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

export function adminS3Client(info: Pick<RgwInfo, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>): S3Client {
  return new S3Client({
    endpoint: info.endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    // RGW 16 answers aws-chunked bodies with trailing checksums with 411 MissingContentLength.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The first multipart upload in a cluster creates the non-ec pool (~2 s); pay it here, not in a test. */
async function warmUpMultipart(s3: S3Client): Promise<void> {
  const Bucket = `warmup-${randomBytes(4).toString('hex')}`;
  const Key = 'warmup';
  await s3.send(new CreateBucketCommand({ Bucket }));
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
  const { ETag } = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: Buffer.from('warm') }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }));
  await s3.send(new DeleteObjectCommand({ Bucket, Key }));
  await s3.send(new DeleteBucketCommand({ Bucket }));
}

/**
 * Every live process of the cluster in `dir`: all of them (daemons, and any ceph / radosgw-admin call
 * still running) were started with `-c <dir>/ceph.conf`, and the folder is unique, so this finds ours
 * and only ours, without trusting recorded pids that may have been recycled.
 */
function processesOf(dir: string): number[] {
  const conf = path.join(dir, 'ceph.conf');
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(conf)) continue;
      // A killed child stays a zombie until its parent reaps it; it is gone for our purposes.
      if (/\) Z /.test(fs.readFileSync(`/proc/${entry}/stat`, 'utf8'))) continue;
      pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Kills the cluster's processes and removes its folder. */
async function destroy(dir: string): Promise<void> {
  // The data is disposable (memstore, folder removed next), so there is nothing to shut down
  // gracefully; SIGTERM would cost ~2 s per daemon.
  const deadline = Date.now() + 10_000;
  for (let pids = processesOf(dir); pids.length > 0 && Date.now() < deadline; pids = processesOf(dir)) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await fsp.rm(dir, { recursive: true, force: true });
}

/**
 * Clusters left in `parent` by a test run that was killed (its owner process is gone): kill and remove
 * them. Clusters started with `rgw.ts start` (owner "detached") are left to `rgw.ts stop`.
 */
async function sweepAbandoned(parent: string, log: (line: string) => void): Promise<void> {
  const entries = await fsp.readdir(parent).catch(() => [] as string[]);
  for (const name of entries.filter((e) => e.startsWith('sluice-rgw-'))) {
    const dir = path.join(parent, name);
    const owner = (await fsp.readFile(path.join(dir, 'owner'), 'utf8').catch(() => 'detached')).trim();
    if (owner === 'detached' || alive(Number(owner))) continue;
    log(`removing the cluster left in ${dir} by process ${owner}, which is gone`);
    await destroy(dir);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function startRgw(opts: StartOptions = {}): Promise<RgwCluster> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const missing = await missingBinaries();
  if (missing.length > 0) throw new Error(`Ceph is not installed (missing ${missing.join(', ')}); run scripts/rgw/rgw.ts install`);

  const parent = opts.parent ?? os.tmpdir();
  await fsp.mkdir(parent, { recursive: true });
  await sweepAbandoned(parent, log);
  const dir = await fsp.mkdtemp(path.join(parent, 'sluice-rgw-'));
  await fsp.writeFile(path.join(dir, 'owner'), opts.detached ? 'detached' : String(process.pid));
  const daemons: Daemon[] = [];
  const stop = () => destroy(dir);
  try {
    const [monPort, rgwPort, plainPort] = [await freePort(), await freePort(), await freePort()];
    const monAddr = `[v2:127.0.0.1:${monPort}]`;
    const conf = path.join(dir, 'ceph.conf');
    const fsid = randomUUID();
    await fsp.writeFile(conf, cephConf(dir, fsid, monAddr, rgwPort, plainPort, opts.memstoreBytes ?? 1024 ** 3));
    const c = ['-c', conf];

    await run('ceph-authtool', ['--create-keyring', path.join(dir, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', monAddr, path.join(dir, 'monmap')]);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')]);
    daemons.push(startDaemon(dir, 'mon.a', 'ceph-mon', [...c, '-f', '-i', 'a'], !!opts.detached));
    log(`mon on ${monAddr} (${Date.now() - t0} ms)`);

    // `ceph osd new` waits for the mon to form a quorum (bounded by client mount timeout).
    const osdUuid = randomUUID();
    const osdId = (await run('ceph', [...c, 'osd', 'new', osdUuid])).trim();
    await fsp.mkdir(path.join(dir, `osd.${osdId}`));
    await run('ceph-osd', [...c, '-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    daemons.push(startDaemon(dir, `osd.${osdId}`, 'ceph-osd', [...c, '-f', '-i', osdId], !!opts.detached));
    log(`osd.${osdId} started (${Date.now() - t0} ms)`);

    // radosgw creates its pools itself; it serves HTTP once they are usable, i.e. once the OSD is up.
    await fsp.mkdir(path.join(dir, 'rgw'));
    daemons.push(startDaemon(dir, 'client.rgw.a', 'radosgw', [...c, '-f', '-n', 'client.rgw.a'], !!opts.detached));
    daemons.push(startDaemon(dir, 'client.rgw.plain', 'radosgw', [...c, '-f', '-n', 'client.rgw.plain'], !!opts.detached));
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const plainEndpoint = `http://127.0.0.1:${plainPort}`;
    await waitFor(`radosgw on ${endpoint} and ${plainEndpoint}`, async () => (await httpUp(endpoint)) && httpUp(plainEndpoint), daemons, dir, 90_000);
    log(`radosgw on ${endpoint}, without STS on ${plainEndpoint} (${Date.now() - t0} ms)`);

    const adminUser = 'admin';
    const accessKeyId = `SLUICE${randomBytes(7).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString('base64url');
    await run('radosgw-admin', [
      ...c, '-n', 'client.rgw.a', 'user', 'create', `--uid=${adminUser}`, '--display-name=Sluice test admin',
      `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`, '--caps=roles=*;oidc-provider=*;users=*;buckets=*',
    ]);
    const info: RgwInfo = {
      endpoint,
      plainEndpoint,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      adminUser,
      dir,
      pids: Object.fromEntries(daemons.map((d) => [d.name, d.child.pid!])),
      startupMs: 0,
    };
    const s3 = adminS3Client(info);
    try {
      await warmUpMultipart(s3);
    } finally {
      s3.destroy();
    }
    info.startupMs = Date.now() - t0;
    await fsp.writeFile(path.join(dir, 'cluster.json'), JSON.stringify(info, null, 2));
    log(`ready in ${info.startupMs} ms`);
    return { ...info, stop };
  } catch (err) {
    // The folder goes with the cluster, so the daemons' last log lines travel in the error.
    const logs: string[] = [];
    for (const d of daemons) logs.push(`--- ${d.name}.log\n${await tail(path.join(dir, `${d.name}.log`), 8)}`);
    await stop();
    throw new Error(`${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
  }
}

/** Stops a cluster started elsewhere (e.g. by `rgw.ts start`): kills its processes, removes its folder. */
export async function stopRgw(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  if (!path.basename(resolved).startsWith('sluice-rgw-') || !fs.existsSync(path.join(resolved, 'ceph.conf'))) {
    throw new Error(`${resolved} is not a folder made by startRgw (no sluice-rgw-* folder with a ceph.conf)`);
  }
  await destroy(resolved);
}
