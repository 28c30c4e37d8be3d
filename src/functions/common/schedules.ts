/** The schedules of the timer triggers (scheduled exports, recurring export drains). */
import { Cron } from 'croner';

/** A scheduled occurrence is started only when the timer sees it within this long after it was due. */
export const SCHEDULE_CATCH_UP_MS = 5 * 60_000;

/** The latest occurrence of a 6-field NCRONTAB schedule in `(now - windowMs, now]`, if any. */
export function latestOccurrence(schedule: string, now: Date, windowMs: number): Date | undefined {
  const cron = new Cron(schedule, { paused: true, timezone: 'Etc/UTC', mode: '6-part', domAndDow: true });
  let found: Date | undefined;
  let cursor: Date | null = new Date(now.getTime() - windowMs);
  for (let i = 0; i < 10_000; i++) {
    cursor = cron.nextRun(cursor);
    if (!cursor || cursor.getTime() > now.getTime()) break;
    found = cursor;
  }
  return found;
}
