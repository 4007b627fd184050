#!/bin/sh
# relaybox-boot-report: once the boot has finished, where its time went (systemd-analyze) and the relay's
# memory, on the console. Runs only with "relaybox.boot-report" on the kernel command line (make
# image-test passes it; on a box, add it to cmdline.txt through raspi-firmware to diagnose a slow start).
systemctl is-system-running --wait >/dev/null 2>&1 || true
pid=$(systemctl show -P MainPID relaybox.service)
echo "relaybox-boot-report: begin"
systemd-analyze time 2>&1
echo "-- critical chain of relaybox.service"
systemd-analyze critical-chain --no-pager relaybox.service 2>&1
echo "-- blame (top 25)"
systemd-analyze blame --no-pager 2>&1 | head -25
echo "-- relay memory"
[ "$pid" != 0 ] && grep -E '^(VmRSS|VmHWM)' "/proc/$pid/status"
echo "-- relay environment (NODE_ variables)"
[ "$pid" != 0 ] && tr '\0' '\n' <"/proc/$pid/environ" | grep '^NODE_'
echo "-- mDNS: avahi-daemon $(systemctl is-active avahi-daemon)"
journalctl -b -u avahi-daemon --no-pager -o cat 2>&1 | grep -E 'Server startup complete|Service .* successfully established'
grep -h -o '<type>[^<]*</type>' /etc/avahi/services/*.service 2>&1
echo "-- failed units"
systemctl list-units --failed --no-legend --plain 2>&1
echo "relaybox-boot-report: end"
