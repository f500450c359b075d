/**
 * `npm run bench:takeover`: how long a SIGKILLed worker's transfer waits before another worker runs
 * it. Two worker processes; each round SIGKILLs the one running the transfer (see
 * test/support/takeover.ts). Prints every round, then median and worst, and the machine's load.
 *
 *   npm run bench:takeover [-- --kills 20]
 *
 * Uses DATABASE_URL's server (default: the local PostgreSQL), where it creates and drops a database.
 */
import os from 'node:os';
import { measureTakeovers, summarise } from '../test/support/takeover.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const kills = arg('kills', 20);
process.env.SLUICE_TEST_DATABASE_URL ??= process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' / ');
const loadBefore = load();
const { seconds } = await measureTakeovers(kills, {
  onRound: (i, s) => console.log(`kill ${String(i + 1).padStart(2)}: taken over after ${s.toFixed(2)} s`),
});
const { median, worst, n } = summarise(seconds);
console.log(`\ntakeover after SIGKILL over ${n} kills: median ${median.toFixed(2)} s, worst ${worst.toFixed(2)} s`);
console.log(`(${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, load average 1/5/15 min: ${loadBefore} before, ${load()} after)`);
