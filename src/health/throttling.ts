// A Raspberry Pi's under-voltage and throttling flags. systeminformation does not report them, so they
// are read here directly from sysfs:
// - the Raspberry Pi kernel's firmware driver: /sys/devices/platform/soc/soc:firmware/get_throttled, the
//   same bits as `vcgencmd get_throttled` (vcgencmd itself needs /dev/vchiq, which the relay's unit hides
//   with PrivateDevices=yes, and Debian does not ship it);
// - Debian's (mainline) kernel: the raspberrypi-hwmon device "rpi_volt", whose in0_lcrit_alarm is the
//   present under-voltage bit only (the driver polls the firmware every 2 s).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export interface Throttling {
  /** Where the flags came from (a sysfs file). */
  source: string;
  underVoltageNow: boolean;
  /** null: the source cannot tell. */
  underVoltageSinceBoot: boolean | null;
  /** Clock capped or throttled, or the soft temperature limit active. null: the source cannot tell. */
  throttledNow: boolean | null;
  throttledSinceBoot: boolean | null;
}

export const GET_THROTTLED = '/sys/devices/platform/soc/soc:firmware/get_throttled';
const HWMON = '/sys/class/hwmon';

/** get_throttled's bits (Raspberry Pi documentation, "vcgencmd get_throttled"): 0 under-voltage, 1 ARM
 * frequency capped, 2 throttled, 3 soft temperature limit; bits 16-19 the same "has occurred" since boot. */
export function decodeGetThrottled(text: string, source = GET_THROTTLED): Throttling | null {
  const v = Number.parseInt(text.trim().replace(/^0x/i, ''), 16);
  if (!Number.isFinite(v)) return null;
  return {
    source,
    underVoltageNow: (v & 0x1) !== 0,
    throttledNow: (v & 0xe) !== 0,
    underVoltageSinceBoot: (v & 0x10000) !== 0,
    throttledSinceBoot: (v & 0xe0000) !== 0,
  };
}

async function fromHwmon(root: string): Promise<Throttling | null> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch {
    return null;
  }
  for (const n of names) {
    const dir = path.join(root, n);
    try {
      if ((await fsp.readFile(path.join(dir, 'name'), 'latin1')).trim() !== 'rpi_volt') continue;
      const file = path.join(dir, 'in0_lcrit_alarm');
      const alarm = (await fsp.readFile(file, 'latin1')).trim() === '1';
      return { source: file, underVoltageNow: alarm, underVoltageSinceBoot: null, throttledNow: null, throttledSinceBoot: null };
    } catch {
      // not readable: try the next device
    }
  }
  return null;
}

/** The flags, or null on a machine that has neither source (not a Pi). */
export async function readThrottling(files = { getThrottled: GET_THROTTLED, hwmon: HWMON }): Promise<Throttling | null> {
  try {
    return decodeGetThrottled(await fsp.readFile(files.getThrottled, 'latin1'), files.getThrottled);
  } catch {
    return fromHwmon(files.hwmon);
  }
}
