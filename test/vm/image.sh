#!/usr/bin/env bash
# Builds, once, the Debian 12 guest of the VM test into test/vm/cache/ (git-ignored):
#   rootfs/      debootstrap of Debian's own packages (systemd, logind + libpam-systemd, dbus, PAM, git,
#                gpg, libsecret-tools, python3-secretstorage, a linux-image-amd64 kernel)
#   vmlinuz, initrd.img   that kernel and a small initramfs (MODULES=list: virtio_pci virtio_blk ext4)
#   disk.raw     the root filesystem image (mkfs.ext4 -d, no loop mount)
# Each layer is rebuilt only when its stamp (a hash of what went into it) changes. The project itself
# is not in the image: run.sh puts the checkout on a second disk for every run.
#
# Usage: test/vm/image.sh [--rebuild]      (root; needs debootstrap and e2fsprogs)
# Mirror: DEBIAN_MIRROR, else the Debian mirror this machine's apt uses (test/vm/mirror.sh).
set -euo pipefail
SELF="$(readlink -f "$0")"
cd "$(dirname "$SELF")"
CACHE="${SDVM_CACHE:-$PWD/cache}"
ROOT="$CACHE/rootfs"
# shellcheck source=test/vm/mirror.sh
. "$PWD/mirror.sh"
MIRROR=$(debian_mirror) || exit 1
# debootstrap's own resolver ignores virtual packages (python3-cryptography needs the virtual
# python3-cffi-backend-api-*), so it lays down only the base; apt-get adds the rest and the kernel.
BASE_PACKAGES=(systemd systemd-sysv udev dbus dbus-user-session libpam-systemd login passwd kmod procps kbd)
PACKAGES=(
  git gpg gpg-agent libsecret-tools python3-secretstorage python3-keyring pamtester sudo
  apparmor systemd-coredump
  initramfs-tools linux-image-amd64
)
DESKTOP_USER=desk
OTHER_USER=other

log() { printf 'image: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "${1:-}" = "--help" ] && { sed -n "2,11p" "$SELF" | cut -c3-; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "image: needs root (debootstrap, chroot)" >&2; exit 1; }

# An interrupted debootstrap leaves /proc (and maybe /sys) mounted in the rootfs: never delete
# through a mount or copy it into the image.
unmount_under() {
  local target
  while target=$(awk -v r="$1/" 'index($2 "/", r) == 1 { print $2 }' /proc/mounts | sort -r | head -1) && [ -n "$target" ]; do
    umount "$target" 2>/dev/null || umount -l "$target" || { echo "image: cannot unmount $target" >&2; exit 1; }
  done
}
mkdir -p "$CACHE"
unmount_under "$ROOT"
if [ "${1:-}" = "--rebuild" ]; then rm -rf "$ROOT" "$CACHE/disk.raw" "$CACHE/disk.stamp"; fi

packages_stamp=$(printf '%s\n' bookworm "$MIRROR" "${BASE_PACKAGES[@]}" "${PACKAGES[@]}" | sha256sum | cut -c1-16)
# The guest layer depends on this script and on the host's node binary that gets copied in.
guest_stamp=$(cat "$SELF" /usr/bin/node | sha256sum | cut -c1-16)

if [ -f "$CACHE/disk.raw" ] && [ "$(cat "$CACHE/disk.stamp" 2>/dev/null)" = "$packages_stamp-$guest_stamp" ]; then
  log "cached image is current ($CACHE/disk.raw)"
  exit 0
fi

# --- layer 1: debootstrap, then Debian's packages with apt-get ---------------------------------------
if [ "$(cat "$ROOT/.sdvm-packages" 2>/dev/null)" != "$packages_stamp" ]; then
  t=$(now)
  log "debootstrap bookworm from $MIRROR (minutes)"
  unmount_under "$ROOT"
  rm -rf "$ROOT"
  timeout 1800 debootstrap --variant=minbase --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
    bookworm "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { unmount_under "$ROOT"; tail -20 "$CACHE/debootstrap.log" >&2; echo "image: debootstrap failed (log: $CACHE/debootstrap.log)" >&2; exit 1; }
  log "debootstrap: $(since "$t") s"

  t=$(now)
  # The initramfs is configured before the kernel arrives, so its postinst builds a small one:
  # MODULES=list with what a virtio disk needs takes seconds (MODULES=most: minutes).
  mkdir -p "$ROOT/etc/initramfs-tools/conf.d" "$ROOT/usr/share/initramfs-tools/modules.d"
  echo MODULES=list >"$ROOT/etc/initramfs-tools/conf.d/sdvm.conf"
  printf 'virtio_pci\nvirtio_blk\next4\n' >"$ROOT/usr/share/initramfs-tools/modules.d/sdvm"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  mount -t proc proc "$ROOT/proc"
  rc=0
  { timeout 600 chroot "$ROOT" apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive timeout 1800 chroot "$ROOT" apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confold "${PACKAGES[@]}" \
    && chroot "$ROOT" apt-get clean; } >"$CACHE/packages.log" 2>&1 || rc=$?
  unmount_under "$ROOT"
  [ "$rc" -eq 0 ] || { tail -20 "$CACHE/packages.log" >&2; echo "image: apt-get install failed (log: $CACHE/packages.log)" >&2; exit 1; }
  echo "$packages_stamp" >"$ROOT/.sdvm-packages"
  log "packages and kernel (apt-get): $(since "$t") s"
fi

# --- layer 2: kernel, initramfs and guest configuration --------------------------------------------
t=$(now)
kver=$(basename "$(ls -d "$ROOT"/lib/modules/* | sort -V | tail -1)")
if [ ! -f "$ROOT/boot/initrd.img-$kver" ] || [ "$ROOT/etc/initramfs-tools/conf.d/sdvm.conf" -nt "$ROOT/boot/initrd.img-$kver" ]; then
  chroot "$ROOT" update-initramfs -c -k "$kver" >"$CACHE/initramfs.log" 2>&1 \
    || chroot "$ROOT" update-initramfs -u -k "$kver" >>"$CACHE/initramfs.log" 2>&1 \
    || { tail -20 "$CACHE/initramfs.log" >&2; exit 1; }
fi
cp "$ROOT/boot/vmlinuz-$kver" "$CACHE/vmlinuz"
cp "$ROOT/boot/initrd.img-$kver" "$CACHE/initrd.img"
log "initramfs ($kver): $(since "$t") s"

t=$(now)
echo sd-vm >"$ROOT/etc/hostname"
grep -q sd-vm "$ROOT/etc/hosts" 2>/dev/null || printf '127.0.1.1 sd-vm\n' >>"$ROOT/etc/hosts"
# The project disk (run.sh) is mounted read-only where a package would be installed: root-owned.
printf '/dev/vda / ext4 rw,relatime 0 1\n/dev/vdb /opt/secrets-dispatcher ext4 ro,nofail 0 0\n' >"$ROOT/etc/fstab"
mkdir -p "$ROOT/opt/secrets-dispatcher"
# A fixed machine id: no first-boot work at every start.
[ -s "$ROOT/etc/machine-id" ] && [ "$(cat "$ROOT/etc/machine-id")" != uninitialized ] \
  || echo 5d1f0e7a9c2b4e6f8a1b3c5d7e9f0a12 >"$ROOT/etc/machine-id"
chroot "$ROOT" passwd -d root >/dev/null
for u in "$DESKTOP_USER" "$OTHER_USER"; do
  chroot "$ROOT" id "$u" >/dev/null 2>&1 || chroot "$ROOT" useradd -m -s /bin/bash "$u"
done
# The host's Node 20 (same Debian 12 glibc: `ldd /usr/bin/node` needs only libc, libstdc++, libm,
# libgcc_s) so the project's native modules run unchanged in the guest.
install -m 0755 /usr/bin/node "$ROOT/usr/bin/node"

units="$ROOT/etc/systemd/system"
# ttyS0 carries the kernel console and nothing else; ttyS1 is the test protocol (guest.sh).
ln -sf /dev/null "$units/serial-getty@ttyS0.service"
ln -sf /dev/null "$units/serial-getty@ttyS1.service"
# Timers that would wake up mid-test and compete for the two emulated CPUs.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer \
  systemd-tmpfiles-clean.timer dpkg-db-backup.timer; do
  ln -sf /dev/null "$units/$u"
done
cat >"$units/sd-vm-guest.service" <<'UNIT'
[Unit]
Description=Secrets Dispatcher VM test scenarios (test/vm/guest.sh from the project disk)
After=multi-user.target
ConditionPathExists=/opt/secrets-dispatcher/test/vm/guest.sh

[Service]
Type=simple
ExecStart=/bin/bash /opt/secrets-dispatcher/test/vm/guest.sh
StandardInput=null
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
UNIT
ln -sf ../sd-vm-guest.service "$units/multi-user.target.wants/sd-vm-guest.service"
log "guest configuration: $(since "$t") s"

t=$(now)
chroot "$ROOT" apt-get clean
unmount_under "$ROOT"
rm -f "$CACHE/disk.raw" "$CACHE/disk.stamp"
mkfs.ext4 -q -F -L sdroot -d "$ROOT" "$CACHE/disk.raw" 2G >/dev/null
echo "$packages_stamp-$guest_stamp" >"$CACHE/disk.stamp"
log "disk image (mkfs.ext4 -d): $(since "$t") s"
