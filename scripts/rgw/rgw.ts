/**
 * Ceph RGW for the AWS-compatibility suite, by hand:
 *
 *   tsx scripts/rgw/rgw.ts install        apt-get the Ceph packages when missing (root)
 *   tsx scripts/rgw/rgw.ts start          start a fresh cluster; prints endpoint, admin keys, folder as JSON
 *   tsx scripts/rgw/rgw.ts stop <dir>     kill that cluster's daemons and remove its folder
 *
 * `npm run test:aws` does install + start + stop itself; this is for poking at RGW directly.
 */
import { installRgw, startRgw, stopRgw } from './cluster.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const [command, arg] = process.argv.slice(2);
const log = (line: string) => console.error(`rgw: ${line}`);

try {
  switch (command) {
    case 'install':
      log((await installRgw(log)) ? 'installed' : 'already installed');
      break;
    case 'start': {
      await installRgw(log);
      const cluster = await startRgw({ detached: true, log });
      const { stop: _stop, ...info } = cluster;
      console.log(JSON.stringify(info, null, 2));
      log(`stop it with: tsx scripts/rgw/rgw.ts stop ${info.dir}`);
      break;
    }
    case 'stop':
      if (!arg) throw new Error('usage: rgw.ts stop <dir printed by start>');
      await stopRgw(arg);
      break;
    default:
      console.error('usage: tsx scripts/rgw/rgw.ts install | start | stop <dir>');
      process.exitCode = 2;
  }
} catch (err) {
  console.error(`rgw: ${(err as Error).message}`);
  process.exitCode = 1;
}
