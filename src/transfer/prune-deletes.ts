/** Delete tracking: the delete records every destination of a tenant has committed can go. */
import { errorRecord } from '../core/errors.js';
import type { ModelDefinition } from '../core/types.js';
import type { RunContext } from './context.js';
import { deleteRecordsCommittedBefore } from './store/watermarks.js';

/** Drops the delete records every destination of the tenant has committed. A failure only delays it. */
export async function pruneDeletes(ctx: RunContext, model: ModelDefinition): Promise<void> {
  const { deps, destination } = ctx;
  if (!deps.source.pruneDeleteRecords) return;
  try {
    const tracked = deps.source.models().filter((m) => m.deletes === 'track');
    const before = await deleteRecordsCommittedBefore(deps.pool, destination.tenantId, tracked.map((m) => ({ name: m.name, lookback: m.lookback })));
    if (before === null) return;
    const pruned = await deps.source.pruneDeleteRecords(model, destination.tenantId, before);
    if (pruned > 0) ctx.log.info({ model: model.name, pruned, before }, 'pruned delete records every destination has committed');
  } catch (err) {
    ctx.log.warn({ model: model.name, err: errorRecord(err) }, 'could not prune delete records; the next transfer tries again');
  }
}

