// The options as given (command line, then config file), looked up by long name, and the readers every
// component's config slice shares, so that a bad value is worded the same whichever option it is.
import * as path from 'node:path';
import { UsageError, type OptionValue } from './parse';

/** Collected option values: lookups by long name. */
export class OptionSet {
  constructor(readonly values: OptionValue[]) {}
  has(name: string): boolean {
    return this.values.some((v) => v.spec.name === name);
  }
  all(name: string): OptionValue[] {
    return this.values.filter((v) => v.spec.name === name);
  }
  /** The single value of an option (the first, for `many` options use list()). */
  get(name: string): string | undefined {
    return this.all(name)[0]?.value;
  }
  list(name: string): string[] {
    return this.all(name)
      .flatMap((v) => v.value.split(','))
      .map((s) => s.trim())
      .filter(Boolean);
  }
  where(name: string): string {
    return this.all(name)[0]?.where ?? 'defaults';
  }
}

/** The lookups a config slice needs (an OptionSet, or a test's stand-in). */
export type OptionLookup = Pick<OptionSet, 'has' | 'all' | 'get' | 'list' | 'where'>;

/** A start-up error that names where the option was given. */
export function usageError(opts: Pick<OptionLookup, 'where'>, name: string, message: string): UsageError {
  return new UsageError(`${opts.where(name)}: ${message}`);
}

/** A whole number of seconds (0 allowed unless allowZero is false); def when the option is absent. */
export function readSeconds(opts: Pick<OptionLookup, 'get' | 'where'>, name: string, def: number, allowZero = true): number {
  const v = opts.get(name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || (!allowZero && Number(v) === 0)) {
    throw usageError(opts, name, `--${name} needs a whole number of seconds${allowZero ? '' : ' greater than 0'}, not "${v}"`);
  }
  return Number(v);
}

/** A whole number from min to max; def when the option is absent. */
export function readWholeNumber(opts: Pick<OptionLookup, 'get' | 'where'>, name: string, def: number, min: number, max: number): number {
  const v = opts.get(name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw usageError(opts, name, `--${name} must be a whole number from ${min} to ${max}, not "${v}"`);
  }
  return Number(v);
}

/** A file or directory option resolved against the directory relative paths start from; def when absent. */
export function readPath(opts: Pick<OptionLookup, 'get'>, name: string, baseDir: string): string | undefined {
  const v = opts.get(name);
  return v === undefined ? undefined : path.resolve(baseDir, v);
}

/** Refuse `name` given without any of `needed`. */
export function requireOneOf(opts: Pick<OptionLookup, 'has' | 'where'>, name: string, needed: string[], message: string): void {
  if (opts.has(name) && !needed.some((n) => opts.has(n))) throw usageError(opts, name, message);
}

/** Refuse `b` given together with `a`. */
export function refuseTogether(opts: Pick<OptionLookup, 'has' | 'where'>, a: string, b: string, message: string): void {
  const [hasA, hasB] = [opts.has(a), opts.has(b)];
  if (hasA && hasB) throw usageError(opts, b, message);
}

/** What every slice reader is given besides the options. */
export interface ReadContext {
  /** Relative paths in options are resolved against this (the directory relaybox was started in). */
  baseDir: string;
  /** Start-up warnings, logged once the log is open. */
  warnings: string[];
}
