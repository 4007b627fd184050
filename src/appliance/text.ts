// Text from a FAT partition edited on any PC: a UTF-8 BOM, CRLF or CR line endings and trailing
// spaces are accepted and removed, so every reader downstream sees plain LF text.
export function normaliseText(text: string): string {
  return text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.replace(/[ \t]+$/, ''))
    .join('\n');
}

/** Lines that say something: not blank, not a '#' comment. */
export function meaningfulLines(text: string): string[] {
  return normaliseText(text)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Text for the FAT partition: CRLF, so that Notepad on an old Windows shows the lines. */
export function forWindows(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}
