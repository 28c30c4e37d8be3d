import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  DmfApiError,
  normalizeExecutionStatus,
  normalizeMessageStatus,
  parseEnvelope,
  parseExecutionErrors,
  parseExecutionIdByMessageId,
  parseRetryAfter,
  parseWriteUrl,
} from '../../../src/shared/dmf/index.js';

describe('wire variants', () => {
  it('accepts GetAzureWriteUrl as a stringified or plain object', () => {
    const v = { BlobId: '{g}', BlobUrl: 'https://b/x.zip?sig=1' };
    expect(parseWriteUrl(JSON.stringify(v))).toEqual({ blobId: '{g}', blobUrl: 'https://b/x.zip?sig=1' });
    expect(parseWriteUrl(v)).toEqual({ blobId: '{g}', blobUrl: 'https://b/x.zip?sig=1' });
    expect(() => parseWriteUrl('not json')).toThrow(DmfApiError);
    expect(() => parseWriteUrl(JSON.stringify({ BlobId: 'x' }))).toThrow(/GetAzureWriteUrl/);
  });

  it('normalizes every known status spelling, case-insensitively', () => {
    expect(normalizeMessageStatus('PreProcessing')).toBe('Preprocessing');
    expect(normalizeMessageStatus('Preprocessing')).toBe('Preprocessing');
    expect(normalizeMessageStatus('PostProcessingError')).toBe('PostProcessingFailed');
    expect(normalizeMessageStatus('PostProcessingFailed')).toBe('PostProcessingFailed');
    expect(normalizeMessageStatus('preprocessingerror')).toBe('PreProcessingError');
    expect(normalizeMessageStatus('Whatever')).toBeUndefined();
    expect(normalizeExecutionStatus('partiallysucceeded')).toBe('PartiallySucceeded');
    expect(normalizeExecutionStatus('Cancelled')).toBe('Canceled');
    expect(normalizeExecutionStatus('NotRun')).toBe('NotRun');
  });

  it('reads execution errors from a JSON string, an array, or nothing', () => {
    expect(parseExecutionErrors('')).toEqual([]);
    expect(parseExecutionErrors(null)).toEqual([]);
    expect(parseExecutionErrors([{ ErrorMessage: 'x' }])[0]?.errorMessage).toBe('x');
    expect(() => parseExecutionErrors('{"a":1}')).toThrow(DmfApiError);
  });

  it('treats the all-zero GUID, with or without braces, as "not yet"', () => {
    expect(parseExecutionIdByMessageId('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(parseExecutionIdByMessageId('{00000000-0000-0000-0000-000000000000}')).toBeUndefined();
    expect(parseExecutionIdByMessageId('CustomerImport-2026')).toBe('CustomerImport-2026');
  });

  it('requires the value property of the envelope', () => {
    expect(parseEnvelope('A', '{"@odata.context":"x","value":""}')).toBe('');
    expect(() => parseEnvelope('A', '{"@odata.context":"x"}')).toThrow(/no "value"/);
    expect(() => parseEnvelope('A', '<html>')).toThrow(/not JSON/);
  });
});

describe('retry timing', () => {
  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('5')).toBe(5_000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
    ).toBe(10_000);
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:29:00 GMT')),
    ).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('doubles the backoff, caps it, and jitters the upper half', () => {
    const opts = { baseDelayMs: 1_000, maxDelayMs: 5_000 };
    expect(backoffDelay(1, { ...opts, random: () => 0 })).toBe(500);
    expect(backoffDelay(1, { ...opts, random: () => 0.999999 })).toBe(1_000);
    expect(backoffDelay(3, { ...opts, random: () => 0 })).toBe(2_000);
    expect(backoffDelay(10, { ...opts, random: () => 0 })).toBe(2_500);
  });
});
