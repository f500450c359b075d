/**
 * Ports of the local services Sluice starts itself (embedded PostgreSQL, the demo's S3 server):
 * chosen once, kept in `<dataDir>/ports.json`, so that URLs handed out (a destination's endpoint, a
 * database URL in a shell) still work after a restart. A setting overrides the kept port. A port that
 * is taken is a one-line error naming the setting, before anything starts.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { SluiceError } from '../core/errors.js';

const PORTS_FILE = 'ports.json';

/** The settings that override kept ports, by service name in ports.json. */
export type PortSetting = 'SLUICE_EMBEDDED_POSTGRES_PORT' | 'SLUICE_DEMO_S3_PORT' | 'SLUICE_PORT' | 'SLUICE_WORKER_METRICS_PORT';

/**
 * The port of `service`: the setting's value when set, else the one kept in ports.json, else a free
 * one, which is then kept.
 */
export async function keptPort(dataDir: string, service: string, setting: PortSetting, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const configured = env[setting];
  if (configured !== undefined && configured !== '') {
    const n = Number(configured);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new SluiceError({ code: 'invalid_input', message: `${setting} must be a port number (1-65535), not "${configured}".`, actor: 'provider' });
    }
    return n;
  }
  const file = path.join(dataDir, PORTS_FILE);
  const kept = await readPorts(file);
  const existing = kept[service];
  if (typeof existing === 'number') return existing;
  const port = await freePort();
  // Re-read right before writing: another service of the same data folder may have kept its own.
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(file, JSON.stringify({ ...(await readPorts(file)), [service]: port }, null, 2) + '\n');
  return port;
}

async function readPorts(file: string): Promise<Record<string, unknown>> {
  try {
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Refuses a port something already listens on, naming the setting that chooses it. */
export async function assertPortFree(host: string, port: number, setting: PortSetting, what: string): Promise<void> {
  if (port === 0) return;
  const problem = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(null)));
  });
  if (!problem) return;
  if (problem.code === 'EADDRINUSE') {
    throw new SluiceError({
      code: 'port_in_use',
      message: `Port ${port} on ${host} (${what}) is already in use by another program.`,
      hint: `Stop that program, or choose another port with ${setting}.`,
      actor: 'provider',
    });
  }
  throw new SluiceError({
    code: 'port_unavailable',
    message: `Cannot listen on ${host}:${port} (${what}): ${problem.code ?? problem.message}.`,
    hint: `Choose another host or port with ${setting}${setting === 'SLUICE_PORT' ? ' / SLUICE_HOST' : ''}.`,
    actor: 'provider',
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
