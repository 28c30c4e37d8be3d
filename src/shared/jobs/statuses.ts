/**
 * The statuses a job can have (a module of its own, importing nothing: the configuration's alert
 * schema names them too, and the jobs' modules depend on the configuration).
 */

/** The final statuses of a job, the outcomes it ends with. */
export const JOB_OUTCOMES = [
  'Succeeded',
  'PartiallySucceeded',
  'Failed',
  'Canceled',
  'TimedOut',
  /** The app cannot tell what F&O did (e.g. an enqueue whose answer was lost): the job says what to check. */
  'Unknown',
  /** Refused before a job could start (a drop or command the app cannot act on): its reason says why. */
  'Rejected',
] as const;

/** Every status a job can have. */
export const JOB_STATUSES = [
  'Pending',
  /** Accepted while its environment is paused: waits, in arrival order, until the environment is resumed. */
  'Queued',
  'Running',
  ...JOB_OUTCOMES,
] as const;
/** One of {@link JOB_STATUSES}. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Final statuses of a job (what an import's or export's result carries). */
export type JobOutcome = (typeof JOB_OUTCOMES)[number];
