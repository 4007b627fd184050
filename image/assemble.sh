#!/bin/bash
# make image: the root file system (image/rootfs.sh, cached) + the relay (.deb contents) + the
# appliance files (image/overlay, image/boot) -> image/out/relaybox-<version>-arm64.img and .img.xz.
# No loop mounts: the FAT partition is made with mkfs.vfat + mtools, the root with mke2fs -d, the
# MBR with sfdisk; partitions are placed with dd. Runs as root (file ownership in the root image).
#   XZ=0  skip the .xz (for image-test iterations)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/.." && pwd)"
out="$here/out"
[ "$(id -u)" = 0 ] || { echo "assemble.sh: run as root (mmdebstrap --mode=root, file ownership in the image)" >&2; exit 1; }
t0=$(date +%s)
version=$(node -p "require('$top/package.json').version")
img="$out/relaybox-$version-arm64.img"
boot_mib=256

tarball=$("$here/rootfs.sh")
deb=$("$top/packaging/build-deb" "$out")
[ -s "$top/dist/relaybox-appliance.js" ] || { echo "assemble.sh: dist/relaybox-appliance.js is missing: run make build" >&2; exit 1; }

stage="$out/stage"
rm -rf "$stage" "$out/boot.vfat" "$out/root.ext4"
mkdir -p "$stage/root"
root="$stage/root"
tar -x -C "$root" --numeric-owner -f "$tarball"

# The relay, as the .deb installs it (without running its maintainer scripts under emulation).
dpkg-deb -x "$deb" "$root"
# The PAM addon (--server-auth pam:), cross-compiled for arm64 against this root's libpam, ships beside the bundle.
pam_addon="${PAM_ADDON_ARM64:-$("$here/pam-addon.sh" "$tarball")}"
file -L "$pam_addon" | grep -q 'ARM aarch64' || { echo "assemble.sh: $pam_addon is not an arm64 binary" >&2; exit 1; }
install -m 0644 "$pam_addon" "$root/usr/lib/relaybox/node-linux-pam.node"
install -m 0755 "$top/dist/relaybox-appliance.js" "$root/usr/lib/relaybox/relaybox-appliance.js"
cp -a --no-preserve=ownership "$here/overlay/." "$root/"
# The appliance's relay unit is the packaged one without its wait for network-online.target: the relay
# listens on every address, and waits for the clock (relaybox-clock), which on a box without an RTC
# means NTP and so the network anyway. In a VM or with an RTC the relay starts ~10 s earlier.
unit="$root/usr/lib/systemd/system/relaybox.service"
grep -v -x -e 'After=network-online.target' -e 'Wants=network-online.target' "$unit" >"$root/etc/systemd/system/relaybox.service"
[ "$(grep -c network-online "$root/etc/systemd/system/relaybox.service")" = 0 ] && [ "$(grep -c network-online "$unit")" = 2 ] ||
  { echo "assemble.sh: $unit no longer has the two network-online lines this script removes" >&2; exit 1; }
systemd-sysusers --root="$root" relaybox.conf
mkdir -p "$root/var/lib/relaybox"
chmod 0755 "$root/var/lib/relaybox"
systemctl --root="$root" enable relaybox.service relaybox-firstboot.service relaybox-import.service \
  relaybox-status.service relaybox-status.timer relaybox-status.path relaybox-boot-report.service systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
  2>&1 | grep -v '^Created symlink' >&2 || true
# Not on the appliance: the D-Bus wpa_supplicant (the wlan0 instance below is used), LVM snapshot
# scrubbing, package updates and dpkg's database backup (the root is read-only).
systemctl --root="$root" disable wpa_supplicant.service e2scrub_reap.service e2scrub_all.timer \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer 2>&1 | grep -v '^Removed' >&2 || true
# Wi-Fi starts when there is a wlan0 (wanted by its device, not by multi-user.target): a box without
# one (a Pi 2, a VM) does not wait 90 s for a device that never comes.
mkdir -p "$root/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants"
ln -sfn /usr/lib/systemd/system/wpa_supplicant@.service "$root/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants/wpa_supplicant@wlan0.service"
# ssh.service is enabled by openssh-server itself; it runs only when network.conf says "ssh = on".
# Read-only root: what the system would write to /etc lives in /run.
ln -sfn /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
ln -sfn /run/relaybox/localtime "$root/etc/localtime"
mkdir -p "$root/etc/wpa_supplicant"
# The kernel and initramfs are booted from the FAT partition: the copies in /boot only cost space.
rm -f "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* "$root"/boot/System.map-* "$root"/boot/config-*

# /etc and /var are up to date with /usr (what systemd-update-done would record at the first boot). Without
# this, ConditionNeedsUpdate= starts ldconfig, systemd-hwdb-update (ahead of udev), the journal
# catalog and sysusers on every boot, each trying to write to the read-only root.
usr_ns=$(stat -c %.9Y "$root/usr" | tr -d .)
for f in "$root/etc/.updated" "$root/var/.updated"; do
  printf '# The modification time of /usr for which /etc and /var were last updated (image/assemble.sh).\nTIMESTAMP_NSEC=%s\n' "$usr_ns" >"$f"
  touch -r "$root/usr" "$f"
done

# The boot partition: firmware, kernel, config.txt/cmdline.txt from raspi-firmware, the user's files.
mv "$root/boot/firmware" "$stage/firmware"
mkdir -p "$root/boot/firmware"
card_files=(relaybox.conf relaybox.secrets network.conf users.txt README.txt)
for f in "${card_files[@]}"; do cp "$here/boot/$f" "$stage/firmware/"; done
mkdir -p "$stage/firmware/tls"
for f in "${card_files[@]}"; do sed -i 's/$/\r/' "$stage/firmware/$f"; done
mkfs.vfat -C -F 32 -n RELAYBOOT -i 52656c79 "$out/boot.vfat" $(( boot_mib * 1024 )) >/dev/null
mcopy -s -p -m -i "$out/boot.vfat" "$stage/firmware"/* ::

# The root partition: content plus 15% and 48 MiB, rounded to MiB.
content_kib=$(du -s -k "$root" | cut -f1)
root_mib=$(( (content_kib * 115 / 100 / 1024) + 48 ))
mke2fs -q -t ext4 -L relayroot -m 0 -d "$root" -E root_owner=0:0 "$out/root.ext4" "${root_mib}M"

# The card: MBR with the fixed disk id 0x52656c79 (PARTUUID=52656c79-0N), boot at 4 MiB.
boot_start=8192
root_start=$(( boot_start + boot_mib * 2048 ))
total=$(( root_start + root_mib * 2048 ))
rm -f "$img"
truncate -s $(( total * 512 )) "$img"
sfdisk --quiet "$img" <<SFDISK
label: dos
label-id: 0x52656c79
unit: sectors
start=$boot_start, size=$(( boot_mib * 2048 )), type=c, bootable
start=$root_start, size=$(( root_mib * 2048 )), type=83
SFDISK
dd if="$out/boot.vfat" of="$img" bs=1M seek=$(( boot_start / 2048 )) conv=notrunc,sparse status=none
dd if="$out/root.ext4" of="$img" bs=1M seek=$(( root_start / 2048 )) conv=notrunc,sparse status=none
rm -f "$out/boot.vfat" "$out/root.ext4"
rm -rf "$stage"
t1=$(date +%s)
echo "assemble.sh: $img: $(( $(stat -c %s "$img") / 1048576 )) MiB (root content $(( content_kib / 1024 )) MiB), assembled in $(( t1 - t0 )) s" >&2
if [ "${XZ:-1}" != 0 ]; then
  nice -n 19 ionice -c3 xz -T2 -6 -k -f "$img"
  echo "assemble.sh: $img.xz: $(( $(stat -c %s "$img.xz") / 1048576 )) MiB, compressed in $(( $(date +%s) - t1 )) s" >&2
fi
echo "$img"
