#!/bin/bash
# Builds the appliance's root file system with mmdebstrap (Debian trixie arm64 packages only) into
# image/out/rootfs-<key>.tar, where <key> hashes image/packages.list, this script and rootfs-customize.sh: an unchanged
# recipe reuses the tarball (the build takes 15-30 minutes under emulation).
# Usage: image/rootfs.sh  (prints the tarball's path on stdout)
#   MIRROR=http://.../debian       Debian mirror (default: the build host's apt configuration)
#   SECURITY_MIRROR=http://.../debian-security
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
mkdir -p "$out"

key=$(cat "$here/packages.list" "$here/rootfs.sh" "$here/rootfs-customize.sh" | sha256sum | cut -c1-16)
tarball="$out/rootfs-$key.tar"
if [ -s "$tarball" ]; then
  echo "rootfs.sh: reusing $tarball (image/packages.list and image/rootfs.sh unchanged)" >&2
  echo "$tarball"
  exit 0
fi

MIRROR=$("$here/../scripts/debian-mirror")
SECURITY_MIRROR=$("$here/../scripts/debian-mirror" security)
if ! arch-test arm64 >/dev/null 2>&1; then
  echo "rootfs.sh: this machine cannot run arm64 binaries: run scripts/install-image-deps (qemu-user-static, binfmt_misc)" >&2
  exit 1
fi

packages=$(grep -v '^\s*#' "$here/packages.list" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
sources=$(mktemp)
trap 'rm -f "$sources"' EXIT
cat >"$sources" <<SOURCES
deb $MIRROR trixie main non-free-firmware
deb $MIRROR trixie-updates main non-free-firmware
deb $SECURITY_MIRROR trixie-security main non-free-firmware
SOURCES

# Paths dpkg never unpacks: documentation, manuals, translations, device trees of other SoCs and
# kernel drivers a headless mail relay has no use for (graphics, sound, media, InfiniBand, staging).
excludes=(
  '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' '/usr/share/lintian/*'
  '/usr/lib/linux-image-*/*'
  '/usr/lib/modules/*/kernel/drivers/gpu/*' '/usr/lib/modules/*/kernel/sound/*'
  '/usr/lib/modules/*/kernel/drivers/media/*' '/usr/lib/modules/*/kernel/drivers/infiniband/*'
  '/usr/lib/modules/*/kernel/drivers/staging/*' '/usr/lib/modules/*/kernel/drivers/iio/*'
  '/usr/lib/modules/*/kernel/drivers/net/wireless/*' '/usr/lib/modules/*/kernel/drivers/net/ethernet/mellanox/*'
)
includes=(
  '/usr/share/doc/*/copyright' '/usr/lib/linux-image-*/broadcom/*'
  '/usr/lib/modules/*/kernel/drivers/net/wireless/broadcom/*'
)
dpkgopts=()
for p in "${excludes[@]}"; do dpkgopts+=(--dpkgopt="path-exclude=$p"); done
for p in "${includes[@]}"; do dpkgopts+=(--dpkgopt="path-include=$p"); done

start=$(date +%s)
mmdebstrap --mode=root --arch=arm64 --variant=apt --components="main non-free-firmware" \
  --include="$packages" "${dpkgopts[@]}" \
  --aptopt='APT::Install-Recommends "false"' \
  --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs' \
  --essential-hook='printf "#!/bin/sh\n# stub during the build: the initramfs is made once at the end\nexit 0\n" > "$1/usr/sbin/update-initramfs"; chmod 755 "$1/usr/sbin/update-initramfs"' \
  --customize-hook="$here/rootfs-customize.sh \"\$1\"" \
  --format=tar trixie "$tarball.part" "$sources"
mv "$tarball.part" "$tarball"
echo "rootfs.sh: built $tarball in $(( $(date +%s) - start )) s" >&2
echo "$tarball"
