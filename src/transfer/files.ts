/** One encoded file written to the bucket under its new key, counted as it goes. */
import { Readable } from 'node:stream';
import type { EncodedFile } from '../core/types.js';
import { step, type RunContext } from './context.js';
import { dataKey } from './keys.js';
import type { ManifestFile } from './manifest.js';
import type { ModelResult } from './result.js';

export async function writeFile(
  ctx: RunContext,
  model: string,
  file: EncodedFile,
  result: ModelResult,
  progress: () => void,
): Promise<ManifestFile> {
  // `done` may reject while the writer is still busy; observe it now so it is never unhandled.
  const done = file.done.then(
    (v) => ({ ok: true as const, rows: v.rows }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  const key = dataKey({
    prefix: ctx.destination.s3.prefix,
    model,
    startedAt: ctx.startedAt,
    transferId: ctx.row.id,
    index: file.index,
    extension: file.extension,
  });
  const bytesBefore = result.bytes;
  let hooked = false;
  const metered = async function* (): AsyncGenerator<Uint8Array> {
    for await (const chunk of file.body as AsyncIterable<Uint8Array>) {
      yield chunk;
      result.bytes += chunk.length;
      progress();
      if (!hooked) {
        hooked = true;
        await step(ctx, 'mid_file', model, key);
      }
    }
  };
  let written;
  try {
    written = await ctx.writer.write(key, Readable.from(metered()), { contentType: file.contentType, signal: ctx.signal });
  } catch (err) {
    file.body.destroy();
    throw err;
  }
  const d = await done;
  if (!d.ok) throw d.err;
  result.bytes = bytesBefore + written.bytes;
  result.rows += d.rows;
  result.files += 1;
  progress();
  await step(ctx, 'file_written', model, key);
  return { key, rows: d.rows, bytes: written.bytes, sha256: written.sha256 };
}
