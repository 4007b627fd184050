// The shape every filter has, whether a program, a network service or a built-in.
import type { Log } from '../log';
import type { FilterResult, FilterSide } from './result';

export interface FilterInput {
  id: string;
  /** Absolute paths: the content file and the envelope (.envelope.new server side, .envelope.busy client side). */
  contentPath: string;
  envelopePath: string;
  /** Client side: run before connecting, to say where the message goes (E-MailRelay's routing filter). */
  routing?: boolean;
}

export interface Filter {
  /** As written in the filter spec, for logs. */
  readonly name: string;
  run(input: FilterInput): Promise<FilterResult>;
  close?(): void;
}

export interface FilterContext {
  side: FilterSide;
  spoolDir: string;
  deliveryDir: string;
  domain: string;
  timeoutMs: number;
  log: Log;
}
