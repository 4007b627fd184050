// `relaybox hardware [--json] [spool-dir]`: the hardware panel (board, temperature, power, card, network,
// uptime) as text, or as JSON for the relay's status page (src/health/hardware-process.ts).
import { readHardware } from './hardware';
import { hardwareRows } from './hardware-rows';

export async function runHardwareCommand(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) {
    process.stderr.write('usage: relaybox hardware [--json] [spool-dir]\n');
    return 2;
  }
  const h = await readHardware(rest[0] ?? '/var/spool/emailrelay');
  process.stdout.write(
    json
      ? JSON.stringify(h) + '\n'
      : hardwareRows(h)
          .map((r) => `${r.label}: ${r.value}`)
          .join('\n') + '\n',
  );
  return 0;
}
