#!/usr/bin/env bash
# Make sure the Docker engine has debian:bookworm-slim.
# Uses the registry's image when it can be pulled; otherwise builds an
# equivalent one with debootstrap (minbase + python3) and `docker import`s it,
# so the lab builds with no container registry at all.
# Also writes images/build/base.tar (docker save) for engines inside the lab.
set -euo pipefail
IMAGE=debian:bookworm-slim
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
mkdir -p "$out"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base: $IMAGE already present"
elif timeout 60 docker pull "$IMAGE" >/dev/null 2>&1; then
  echo "base: pulled $IMAGE"
else
  echo "base: no registry; building $IMAGE with debootstrap (about a minute)"
  command -v debootstrap >/dev/null || { echo "base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  root=$(mktemp -d /var/tmp/simplecloud-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include=python3 bookworm "$root" "$MIRROR" >"$out/debootstrap.log" 2>&1 \
    || { echo "base: debootstrap failed, see $out/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
  echo "base: imported $IMAGE"
fi

id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [ ! -s "$out/base.tar" ] || [ "$(cat "$out/base.id" 2>/dev/null)" != "$id" ]; then
  docker save "$IMAGE" -o "$out/base.tar.tmp" && mv "$out/base.tar.tmp" "$out/base.tar"
  echo "$id" >"$out/base.id"
  echo "base: saved $IMAGE to $out/base.tar"
fi
