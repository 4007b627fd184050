// Bundle src/ into ONE CommonJS file, dist/relaybox.js, that runs with no node_modules beside it.
import { build } from 'esbuild';
import { readFileSync, chmodSync, copyFileSync, existsSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/relaybox.js',
  banner: { js: '#!/usr/bin/env node' },
  define: { RELAYBOX_VERSION: JSON.stringify(pkg.version) },
  sourcemap: false,
  logLevel: 'warning',
});
chmodSync('dist/relaybox.js', 0o755);

// The PAM addon (N-API, loaded only with --server-auth pam:) ships beside the bundle.
const pamAddon = 'node_modules/node-linux-pam/build/Release/node-linux-pam.node';
if (existsSync(pamAddon)) {
  copyFileSync(pamAddon, 'dist/node-linux-pam.node');
} else {
  rmSync('dist/node-linux-pam.node', { force: true });
  console.warn(`note: ${pamAddon} was not built (it needs libpam0g-dev and a C++ compiler): --server-auth pam: will not be available`);
}
