import { pipelineOf } from '../adapters/handle-request.ts';
import type { Receiver } from '../receiver.ts';
import type { AnyProvider } from '../types.ts';
import type { Instruments } from './instruments.ts';

/** A receiver made by `createReceiver()`, of any provider, as metrics and tracing take it. */
export type MonitoredReceiver = Pick<Receiver<AnyProvider>, 'name' | 'provider' | 'stats'>;

/** The instruments of a receiver made by `createReceiver()`. */
export function instrumentsOf(receiver: MonitoredReceiver, caller: string): Instruments {
  const instruments = pipelineOf(receiver)?.instruments;
  if (instruments === undefined) {
    throw new TypeError(`Expected ${caller}() to be given receivers made by createReceiver(), got ${receiver === null ? 'null' : typeof receiver}`);
  }
  return instruments;
}
