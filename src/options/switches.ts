// E-MailRelay's switch lists (--server-smtp-config, --client-smtp-config): "name", "+name", "with-name"
// turn a switch on; "-name", "noname", "without-name" turn it off.

export function parseSwitches<T extends Record<string, boolean>>(
  text: string,
  defaults: T,
  option: string,
  ignored: readonly string[] = [],
): { switches: T; unknown: string[] } {
  const switches = { ...defaults } as Record<string, boolean>;
  const unknown: string[] = [];
  for (const raw of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    let on = true;
    let name = raw.toLowerCase();
    if (name.startsWith('+')) name = name.slice(1);
    else if (name.startsWith('with-')) name = name.slice(5);
    else if (name.startsWith('without-')) {
      name = name.slice(8);
      on = false;
    } else if (name.startsWith('-')) {
      name = name.slice(1);
      on = false;
    }
    if (!(name in switches) && name.startsWith('no') && name.slice(2) in switches) {
      name = name.slice(2);
      on = false;
    }
    if (name in switches) switches[name] = on;
    else if (!ignored.includes(name)) unknown.push(`${option}: unknown switch "${raw}"`);
  }
  return { switches: switches as T, unknown };
}
