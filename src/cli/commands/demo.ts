import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { demoInfoLines, readDemoInfo } from '../../demo/info.js';
import { printJson } from '../output.js';

export function registerDemo(program: Command): void {
  const demo = program.command('demo').description('The demo that `npm start` runs without SLUICE_SOURCE_URL.');
  demo
    .command('info')
    .description('Print what the walkthrough needs beside a running demo: settings to export, database URLs, bucket credentials, tenants.')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const info = await readDemoInfo(config.dataDir, { host: config.SLUICE_HOST, port: config.SLUICE_PORT, modelsFile: config.SLUICE_CONFIG });
      if (opts.json) printJson(info);
      else console.log(demoInfoLines(info).join('\n'));
    });
}
