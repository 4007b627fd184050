#!/bin/bash
# mmdebstrap customize hook of image/rootfs.sh: runs once in the finished arm64 root ($1) under
# emulation. Only what needs the target's own programs is done here; the appliance's files are added
# later by image/assemble.sh without emulation (so changing them does not rebuild this tarball).
set -euo pipefail
root="$1"

# The real update-initramfs back (a stub stood in while packages were installed).
rm -f "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs

# raspi-firmware writes config.txt and cmdline.txt from these on every kernel update. The disk id
# 0x5265_6c79 ("Rely") is fixed in image/assemble.sh, so PARTUUID names the root partition.
cat >"$root/etc/default/raspi-firmware" <<'CONF'
ROOTPART=PARTUUID=52656c79-02
CONSOLES="auto"
CMA=0
KERNEL_ARCH="arm64"
CONF
echo "fsck.repair=yes ro quiet" >"$root/etc/default/raspi-extra-cmdline"
cat >"$root/etc/default/raspi-firmware-custom" <<'CONF'
# relaybox: headless, no camera or display; the hardware watchdog is driven by systemd.
dtparam=watchdog=on
disable_splash=1
# The serial console on GPIO 14/15 (ttyS1 on a Pi 3/4): the boot can be watched without a screen.
enable_uart=1
CONF

kver=$(ls "$root/usr/lib/modules" | sort -V | tail -1)
chroot "$root" /etc/kernel/postinst.d/z50-raspi-firmware "$kver"
chroot "$root" update-initramfs -c -k "$kver"
ls -l "$root/boot/firmware" >&2

# Every card gets its own identity: no machine-id, no SSH host keys from the build.
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
echo uninitialized >"$root/etc/machine-id"
chroot "$root" systemctl mask systemd-firstboot.service
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
