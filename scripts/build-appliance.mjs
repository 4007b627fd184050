// Bundle the appliance's boot-time helper (src/appliance/cli.ts) into ONE file,
// dist/relaybox-appliance.js, which the SD-card image runs with no node_modules (see image/).
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: ['src/appliance/cli.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: 'dist/relaybox-appliance.js',
  banner: { js: '#!/usr/bin/env node' },
  define: { RELAYBOX_VERSION: JSON.stringify(pkg.version) },
  sourcemap: false,
  logLevel: 'warning',
});
chmodSync('dist/relaybox-appliance.js', 0o755);
