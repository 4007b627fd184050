// Bundle src/ into ONE CommonJS file, dist/relaybox.js, that runs with no node_modules beside it.
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

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
