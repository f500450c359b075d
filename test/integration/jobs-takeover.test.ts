/**
 * Fast takeover: a worker killed with SIGKILL while it runs a transfer is found gone through its
 * control-store session, not its heartbeat, and another worker runs the transfer within seconds. The
 * heartbeat bound is left at its default of 60 s, which the old recovery needed (median 59 s). The
 * bound asserted here is loose, for a loaded machine; `npm run bench:takeover` measures the figure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureTakeovers, summarise } from '../support/takeover.js';

describe('fast takeover after SIGKILL', () => {
  it('another worker runs the killed worker’s transfer within seconds, far below the heartbeat bound', async () => {
    const { seconds } = await measureTakeovers(3);
    const { median, worst } = summarise(seconds);
    console.log(`# takeover after SIGKILL: ${seconds.map((s) => s.toFixed(1)).join(', ')} s (median ${median.toFixed(1)}, worst ${worst.toFixed(1)})`);
    for (const s of seconds) assert.ok(s < 20, `took over after ${s.toFixed(1)} s; the heartbeat bound is 60 s`);
  });
});
