// Cleanups run last-registered-first (a client socket closes before the relay it talks to stops),
// all of them even if one throws; the first error is reported.
export interface AfterHost {
  after(fn: () => unknown): void;
}

export type Defer = (fn: () => unknown) => void;

export function cleanups(t: AfterHost): Defer {
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    let first: unknown;
    for (const fn of fns.reverse()) {
      try {
        await fn();
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw first;
  });
  return (fn) => {
    fns.push(fn);
  };
}
