#!/bin/sh
# relaybox-firstboot: makes partition 3 (the data partition: spool, secrets, working config) in the
# free space after the root partition, formats it, and on a later start grows it if the card is
# bigger than the partition (an image copied onto a larger card). Idempotent: does nothing when the
# partition exists, has a file system and fills the card.
set -eu
log() { echo "relaybox-firstboot: $*"; }
root=$(findmnt -n -o SOURCE /)
disk=/dev/$(lsblk -n -o PKNAME "$root")
case "$disk" in *mmcblk*|*nvme*|*loop*) part3="${disk}p3" ;; *) part3="${disk}3" ;; esac
disk_sectors=$(cat "/sys/class/block/${disk#/dev/}/size")
root_end=$(sfdisk -l -o Device,End "$disk" | awk -v d="${root}" '$1 == d { print $2 }')
start=$(( (root_end / 2048 + 1) * 2048 ))
if [ ! -b "$part3" ] && ! sfdisk -d "$disk" | grep -q "^${part3} "; then
  free=$(( disk_sectors - start ))
  if [ "$free" -lt $(( 64 * 2048 )) ]; then
    log "only $(( free / 2048 )) MiB free after the root partition: no data partition (the card is too small)"
    exit 1
  fi
  log "creating the data partition ${part3}: $(( free / 2048 )) MiB from sector $start"
  echo "start=$start, type=83" | sfdisk --no-reread --no-tell-kernel -N 3 "$disk"
  partx -a -n 3 "$disk" || partx -u "$disk"
  udevadm settle -t 30 || true
fi
if ! blkid -p "$part3" >/dev/null 2>&1; then
  log "formatting $part3 (ext4, data=journal)"
  mkfs.ext4 -q -F -L relaydata "$part3"
  udevadm settle -t 30 || true
  exit 0
fi
p3_end=$(sfdisk -l -o Device,End "$disk" | awk -v d="$part3" '$1 == d { print $2 }')
if [ $(( disk_sectors - p3_end )) -gt $(( 64 * 2048 )) ]; then
  log "growing $part3 to the end of the card"
  echo ", +" | sfdisk --no-reread --no-tell-kernel -N 3 "$disk"
  partx -u -n 3 "$disk"
  e2fsck -p -f "$part3" || true
  resize2fs "$part3"
fi
