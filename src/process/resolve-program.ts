// Where a filter or verifier program named in the options is on disk, checked at start-up.
import * as path from 'node:path';
import { accessSync, constants as FS, statSync } from 'node:fs';

/** A program path: relative to the start-up directory, "@app" the directory relaybox is installed in. */
export function resolveProgram(spec: string, baseDir: string, appDir: string): string {
  const p = spec.startsWith('@app') ? path.join(appDir, spec.slice(4)) : path.resolve(baseDir, spec);
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new Error(`"${p}": no such program`);
  }
  if (!st.isFile()) throw new Error(`"${p}" is not a file`);
  if (!/\.(m?js|cjs)$/.test(p)) {
    try {
      accessSync(p, FS.X_OK);
    } catch {
      throw new Error(`"${p}" is not executable (chmod +x it)`);
    }
  }
  return p;
}
