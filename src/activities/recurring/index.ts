/** The recurring integrations' activities (durable names `recurring…`). */
import { ackBatchActivity, dequeueBatchActivity, fileMissingActivity, recordRunActivity } from './drain.js';
import {
  enqueueActivity,
  executionIdActivity,
  finishActivity,
  jobStateActivity,
  messageStatusActivity,
} from './enqueue.js';

/** Activities of the recurring export drain and of the recurring import, by role. */
export const RECURRING_ACTIVITIES = {
  dequeueBatch: dequeueBatchActivity,
  ackBatch: ackBatchActivity,
  fileMissing: fileMissingActivity,
  recordRun: recordRunActivity,
  enqueue: enqueueActivity,
  messageStatus: messageStatusActivity,
  executionId: executionIdActivity,
  jobState: jobStateActivity,
  finish: finishActivity,
};
