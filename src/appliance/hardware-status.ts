// STATUS.txt's hardware section: the status page's hardware panel without what changes by the minute,
// so that the file on the card is not rewritten for nothing. It is read by the relay's bundle beside
// this one (`relaybox.js hardware --json`), which keeps systeminformation out of relaybox-appliance.js,
// the small program every boot runs before the network and the relay start.
import * as path from 'node:path';
import type { Section } from './section';
import { readHardwareInChild } from '../health/hardware-process';
import { hardwareRows } from '../health/hardware-rows';

export async function hardwareStatusSection(spoolDir: string, relay = path.join(__dirname, 'relaybox.js')): Promise<Section> {
  const h = await readHardwareInChild(spoolDir, [process.execPath, relay]);
  if (!h) return { title: 'Hardware', ok: true, lines: ['could not be read this time'] };
  const rows = hardwareRows(h, { steady: true });
  return { title: 'Hardware', ok: !rows.some((r) => r.problem), lines: rows.map((r) => `${r.label}: ${r.value}`) };
}
