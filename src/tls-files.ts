// CA certificates for verification: a PEM file, or every file in a directory.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function readCaFiles(spec: string): Buffer[] {
  const st = fs.statSync(spec);
  const files = st.isDirectory()
    ? fs.readdirSync(spec).map((f) => path.join(spec, f)).filter((f) => fs.statSync(f).isFile())
    : [spec];
  return files.map((f) => fs.readFileSync(f));
}
