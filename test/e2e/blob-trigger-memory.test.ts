import { describe, expect, it } from 'vitest';
import { IMPORT_EVENT_TYPES } from '../../src/shared/events/index.js';
import { peakRssGrowthMb } from '@dmf-functions/devhost/testing';
import { eventually, useImportStack } from './helpers.js';

const MB = 1024 * 1024;
const s = useImportStack({ blobPollIntervalMs: 60_000 });

describe('blob trigger of the app (sdkBinding: the host hands over a reference)', () => {
  it('a 500 MB drop costs the host ≤ 64 MB: the trigger never reads the blob', async () => {
    // A sparse page blob: 500 MB long without a 500 MB buffer anywhere. The project is unknown, so
    // the trigger runs in full (metadata, validation, rejection event) and no import reads the file.
    const name = 'local/NoSuchProject/big.zip';
    await s.containers.inbound.getPageBlobClient(name).create(500 * MB);
    const { growthMb } = await peakRssGrowthMb(() => s.stack.host!.blobTriggers.scanNow());
    console.info(`app blob trigger, 500 MB blob: RSS +${growthMb.toFixed(1)} MB`);
    const rejected = await eventually(() =>
      s
        .events()
        .find(
          (e) =>
            e.subject === IMPORT_EVENT_TYPES.rejected && (e.body as { subject?: string }).subject === name,
        ),
    );
    expect((rejected.body as { data: { reason: string } }).data.reason).toMatch(/NoSuchProject/);
    expect(growthMb).toBeLessThanOrEqual(64);
  });
});
