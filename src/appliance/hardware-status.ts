// STATUS.txt's hardware section: the status page's hardware panel without what changes by the minute,
// so that the file on the card is not rewritten for nothing. `relaybox-appliance status` runs once and
// exits, so it reads systeminformation in its own process.
import type { Section } from './boot-import';
import { readHardware } from '../health/hardware';
import { hardwareRows } from '../health/hardware-rows';

export async function hardwareStatusSection(spoolDir: string): Promise<Section> {
  try {
    const rows = hardwareRows(await readHardware(spoolDir), { steady: true });
    return { title: 'Hardware', ok: !rows.some((r) => r.problem), lines: rows.map((r) => `${r.label}: ${r.value}`) };
  } catch (e) {
    return { title: 'Hardware', ok: true, lines: [`could not be read: ${(e as Error).message}`] };
  }
}
