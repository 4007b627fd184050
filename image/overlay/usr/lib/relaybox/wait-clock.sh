#!/bin/sh
# relaybox-clock: returns once the clock can be trusted, so that no mail is forwarded (and stamped)
# with a wrong date: NTP has synchronised it (systemd-timesyncd), a battery-backed RTC set it at boot,
# or the kernel command line says relaybox.clock=trusted (a virtual machine, or a board whose clock is
# set some other way). The same test as the clock line of STATUS.txt (src/appliance/cli.ts). A shell
# script, not Node: it sits on the path to the relay's start, where a Node start costs seconds on a Pi.
clock_is_set() {
  [ -e /run/systemd/timesync/synchronized ] && return 0
  case " $(cat /proc/cmdline) " in *" relaybox.clock=trusted "*) return 0 ;; esac
  [ "$(cat /sys/class/rtc/rtc0/hctosys 2>/dev/null)" = 1 ]
}
if ! clock_is_set; then
  echo "waiting for the clock to be set (NTP) before forwarding mail"
  # systemd stops this at shutdown; TimeoutStartSec=infinity: without a clock the relay must not start.
  until clock_is_set; do sleep 2; done
fi
echo "the clock is set"
