#!/usr/bin/env bash
# Build the VM lab's Vagrant box (libvirt provider) offline, from the
# container lab's machine image (build-host.sh: the same machine deploy):
#   the image's files (docker export) -> deploy.py through pyinfra's @chroot
#   connector (simplecloud_target=vm: the VM's packages, kernel, fstab,
#   DHCP, serial console; what the container masks unmasked)
#   -> mkfs.ext4 -d -> qcow2 -> box (box.img, metadata.json, a Vagrantfile
#   that boots the kernel and initrd shipped next to them: no boot loader).
# Starting from the image, not from debootstrap, leaves only the VM's own
# packages to fetch and install (the rest are in the image already).
# Usage: images/machine/build-box.sh [OUT.box] [IMAGE]
#        (default images/build/simplecloud.box from simplecloud/host)
# Needs root, Docker with the image, e2fsprogs, qemu-utils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/simplecloud.box}
out=$(realpath -m "$out")
image=${2:-simplecloud/host}
pyinfra=${PYINFRA:-$here/../../.venv/bin/pyinfra}
SIZE_GB=${BOX_SIZE_GB:-8}

work=$(mktemp -d /var/tmp/simplecloud-box.XXXXXX)
root=$work/rootfs
cleanup() {
  mountpoint -q "$root/proc" && umount "$root/proc"
  mountpoint -q "$root/sys" && umount "$root/sys"
  # never delete through a mount that is still there
  if findmnt -rn -o TARGET | grep -q "^$work"; then echo "box: $work still has mounts; left in place" >&2
  else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "box: the files of $image"
mkdir -p "$root"
cid=$(docker create "$image" /bin/true)
docker export "$cid" | tar -C "$root" --numeric-owner -xpf - || { docker rm "$cid" >/dev/null; exit 1; }
docker rm "$cid" >/dev/null
# what Docker leaves in an exported container: its marker, and name files
# it bind-mounts at run time (the deploy writes the VM's own)
rm -f "$root/.dockerenv"
cp /etc/resolv.conf "$root/etc/resolv.conf"      # apt inside the chroot; DHCP replaces it on boot

echo "box: the machine deploy through @chroot"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
# no service starts inside the build (the roles start what each machine runs)
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
"$pyinfra" -y --data simplecloud_target=vm "@chroot/$root" "$here/deploy.py"
rm -f "$root/usr/sbin/policy-rc.d"
umount "$root/proc" "$root/sys"

echo "box: root filesystem image (${SIZE_GB} GiB, ext4)"
box=$work/box
mkdir -p "$box"
cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)" "$box/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)" "$box/initrd.img"
# No package lists in the image, and nothing that says they are fresh:
# Ansible's apt (cache_valid_time) reads the update stamp, else the lists
# directory's mtime; either would make the roles skip `apt-get update` and
# find no package that is not pre-installed.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/periodic/update-success-stamp
touch -d @0 "$root"/var/lib/apt/lists
truncate -s "${SIZE_GB}G" "$work/root.raw"
mkfs.ext4 -q -F -L simplecloud-root -d "$root" "$work/root.raw"
qemu-img convert -O qcow2 "$work/root.raw" "$box/box.img"
rm -f "$work/root.raw"

printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$SIZE_GB" >"$box/metadata.json"
cp "$here/box.Vagrantfile" "$box/Vagrantfile"
mkdir -p "$(dirname "$out")"
tar -C "$box" -cf "$out.tmp" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv "$out.tmp" "$out"
# kept beside the box for a quick look with plain QEMU (README: make box)
cp "$box/vmlinuz" "$box/initrd.img" "$(dirname "$out")/"
echo "box: built $out ($(du -h "$out" | cut -f1))"
