// Filter and verifier programs for tests: small shell and JavaScript files written to a temp dir.
import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** Write an executable shell script (the body follows "#!/bin/sh" and "set -e" is not implied). */
export function shellScript(dir: string, name: string, body: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

/** Write a JavaScript program (run by relaybox with its own node, so not executable). */
export function jsProgram(dir: string, name: string, body: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, body);
  return p;
}
