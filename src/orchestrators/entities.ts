/** Registration of the pipeline's durable entities (thin: state transitions live in slot.ts). */
import * as df from 'durable-functions';
import { z } from 'zod';
import { IMPORT_ENTITIES } from '../activities/names.js';
import { acquire, emptySlot, enqueue, remove, type SlotState } from './slot.js';

/** Earlier durations kept per data project. */
export const HISTORY_LENGTH = 10;

const AcquireInput = z.object({ instanceId: z.string(), capacity: z.number().int().min(1), now: z.string() });
const EnqueueInput = z.object({ instanceId: z.string(), now: z.string(), since: z.string().optional() });
const RemoveInput = z.object({ instanceIds: z.array(z.string()), now: z.string() });

df.app.entity<SlotState>(IMPORT_ENTITIES.slot, (context) => {
  const state = { ...emptySlot(), ...context.df.getState(emptySlot) };
  switch (context.df.operationName) {
    case 'enqueue':
      enqueue(state, EnqueueInput.parse(context.df.getInput()));
      break;
    case 'acquire':
      context.df.return(acquire(state, AcquireInput.parse(context.df.getInput())));
      break;
    case 'remove':
      context.df.return(remove(state, RemoveInput.parse(context.df.getInput())));
      break;
    case 'get':
      context.df.return(state);
      break;
    default:
      throw new Error(`${IMPORT_ENTITIES.slot}: unknown operation ${String(context.df.operationName)}`);
  }
  context.df.setState(state);
});

df.app.entity<number[]>(IMPORT_ENTITIES.history, (context) => {
  const durations = context.df.getState(() => []) ?? [];
  switch (context.df.operationName) {
    case 'add': {
      const ms = z.number().positive().parse(context.df.getInput());
      context.df.setState([ms, ...durations].slice(0, HISTORY_LENGTH));
      break;
    }
    case 'get':
      context.df.return(durations);
      break;
    default:
      throw new Error(`${IMPORT_ENTITIES.history}: unknown operation ${String(context.df.operationName)}`);
  }
});
