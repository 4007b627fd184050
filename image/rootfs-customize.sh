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
# "auto" looks for /dev/ttyS1 on the build machine and finds none. The serial console on GPIO 14/15
# (the mini UART, ttyS1 on a Pi 3/4; raspi-firmware's config.txt has enable_uart=1) comes last, so
# systemd's messages go there too: a box without a screen can be watched with a USB serial cable.
CONSOLES="tty0 ttyS1,115200"
CMA=0
KERNEL_ARCH="arm64"
CONF
echo "fsck.repair=yes ro quiet" >"$root/etc/default/raspi-extra-cmdline"
cat >"$root/etc/default/raspi-firmware-custom" <<'CONF'
# relaybox: headless, no camera or display; the hardware watchdog is driven by systemd.
dtparam=watchdog=on
disable_splash=1
CONF

kver=$(ls "$root/usr/lib/modules" | sort -V | tail -1)
# (update-initramfs runs this hook again, through /etc/initramfs/post-update.d; without
# DEB_MAINT_PARAMS=configure the hook does nothing.)
DEB_MAINT_PARAMS=configure chroot "$root" /etc/kernel/postinst.d/z50-raspi-firmware "$kver"
chroot "$root" update-initramfs -c -k "$kver"
ls -l "$root/boot/firmware" >&2

# Every card gets its own identity: no machine-id, no SSH host keys from the build.
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
echo uninitialized >"$root/etc/machine-id"
chroot "$root" systemctl mask systemd-firstboot.service
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
