#!/bin/bash
# Cross-compiles the PAM addon (node-linux-pam, an N-API addon) for arm64 -> dist/arm64/node-linux-pam.node,
# linked against the image's own libpam taken from the root file system (a tarball or a directory).
# Native cross-compilers (g++-aarch64-linux-gnu, scripts/install-image-deps) take seconds where a compiler
# under emulation in the arm64 root would take many minutes. N-API is stable across Node versions, so
# the host's Node headers serve the image's Node.
# Usage: image/pam-addon.sh ROOTFS   (prints the addon's path on stdout)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/.." && pwd)"
rootfs="$1"
out="$top/dist/arm64/node-linux-pam.node"
src="$top/node_modules/node-linux-pam"
[ -d "$src" ] || { echo "pam-addon.sh: $src is missing: run npm ci" >&2; exit 1; }
if [ -s "$out" ] && [ "$out" -nt "$rootfs" ] && [ "$out" -nt "$src/package.json" ] && [ "$out" -nt "$0" ]; then
  echo "$out"
  exit 0
fi
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null || { echo "pam-addon.sh: $tool is missing: run scripts/install-image-deps" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
libs="$work/sysroot/usr/lib/aarch64-linux-gnu"
mkdir -p "$libs"
# libpam and what it needs at link time (libaudit, libcap-ng), from the very root the image boots.
wanted=(libpam.so.0 'libpam.so.0.*' libaudit.so.1 'libaudit.so.1.*' libcap-ng.so.0 'libcap-ng.so.0.*')
if [ -d "$rootfs" ]; then
  for w in "${wanted[@]}"; do cp -a "$rootfs"/usr/lib/aarch64-linux-gnu/$w "$libs/"; done
else
  tar -x -C "$work/sysroot" -f "$rootfs" --wildcards "${wanted[@]/#/./usr/lib/aarch64-linux-gnu/}"
fi
ln -s libpam.so.0 "$libs/libpam.so"
# A copy to build in: node_modules is hard-linked between worktrees and must not be written through.
cp -r "$src" "$work/addon"
rm -rf "$work/addon/build"
mkdir -p "$work/addon/node_modules"
cp -r "$top/node_modules/node-addon-api" "$work/addon/node_modules/"
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || { echo "pam-addon.sh: node-gyp (bundled with npm) not found at $gyp" >&2; exit 1; }
nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
(
  cd "$work/addon"
  export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
  export LDFLAGS="-L$libs -Wl,-rpath-link,$libs"
  node "$gyp" rebuild --arch=arm64 --nodedir="$nodedir" --loglevel=warn >&2
)
built="$work/addon/build/Release/node-linux-pam.node"
aarch64-linux-gnu-strip --strip-unneeded "$built"
file -L "$built" | grep -q 'ARM aarch64' || { echo "pam-addon.sh: the build did not produce an arm64 binary: $(file -L "$built")" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
install -m 0644 "$built" "$out"
echo "pam-addon.sh: built $out ($(stat -c %s "$out") bytes)" >&2
echo "$out"
