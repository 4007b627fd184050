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
end_of() { sfdisk -l -o Device,End "$disk" | awk -v d="$1" '$1 == d { print $2 }'; }

wait_for_node() { # the kernel and udev know the new partition: bounded wait
  i=0
  while [ ! -b "$part3" ] && [ "$i" -lt 30 ]; do
    udevadm settle -t 5 || true
    [ -b "$part3" ] || sleep 1
    i=$((i + 1))
  done
  [ -b "$part3" ] || { log "$part3 did not appear"; exit 1; }
}

format() {
  log "formatting $part3 (ext4)"
  mkfs.ext4 -F -q -L relaydata "$part3"
  udevadm settle -t 30 || true
}

root_end=$(end_of "$root")
start=$(( (root_end / 2048 + 1) * 2048 ))
if [ -z "$(end_of "$part3")" ]; then
  free=$(( disk_sectors - start ))
  if [ "$free" -lt $(( 64 * 2048 )) ]; then
    log "only $(( free / 2048 )) MiB free after the root partition: no data partition (the card is too small)"
    exit 1
  fi
  log "creating the data partition $part3: $(( free / 2048 )) MiB from sector $start"
  echo "start=$start, type=83" | sfdisk --no-reread --no-tell-kernel -N 3 "$disk"
  partx -a -n 3 "$disk" || partx -u -n 3 "$disk"
  wait_for_node
  format
  exit 0
fi
wait_for_node
if [ -z "$(blkid -p -o value -s TYPE "$part3" 2>/dev/null || true)" ]; then
  format
  exit 0
fi
if [ $(( disk_sectors - $(end_of "$part3") )) -gt $(( 64 * 2048 )) ]; then
  log "growing $part3 to the end of the card"
  echo ", +" | sfdisk --no-reread --no-tell-kernel -N 3 "$disk"
  partx -u -n 3 "$disk"
  e2fsck -p -f "$part3" || true
  resize2fs "$part3"
fi
log "the data partition $part3 is ready"
