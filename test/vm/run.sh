#!/usr/bin/env bash
# `npm run test:vm`: the whole deployment in a real Debian 12 VM (docs/VM-TEST.md).
# Builds or reuses the cached image (test/vm/image.sh), puts this checkout (with dist/ and
# node_modules/) on a second, read-only disk, boots the guest under qemu in software emulation and
# lets test/vm/guest.sh run the scenarios inside it: provision, a real tty1 login, approvals typed on
# VT8 with the qemu monitor's `sendkey`, a signed commit, logout, uninstall. This script only types
# the keys the guest asks for, prints one PASS/FAIL line per check and `N passed, N failed`, and
# exits non-zero on any FAIL. Every wait has a deadline; the VM is killed by PID at the end, always.
#
# Usage: test/vm/run.sh [--rebuild-image] [--no-build]     (root)
# Exit:  0 all passed; 1 a check failed; 77 Debian's mirror unreachable (image not buildable)
# Env:   SDVM_CACHE (default test/vm/cache), SDVM_TIMEOUT (whole run in the VM, default 2400 s), SDVM_VERBOSE=1 (print the guest's log),
#        DEBIAN_MIRROR (default: the Debian mirror this machine's apt uses, test/vm/mirror.sh)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SDVM_CACHE:-$HERE/cache}"
RUN="$CACHE/run"
TIMEOUT="${SDVM_TIMEOUT:-2400}"
CHECKS=(
  provision-refuses-writable login-starts-companion lookup-waits-shows-exe sendkey-approves-secret provision-check
  ptrace-read-only no-core-dumps git-commit-signed other-user-refused console-kill9-recovers daemon-abort-no-core
  logout-stops-companion uninstall-no-trace
)

rebuild_image=0
build=1
for arg in "$@"; do
  case "$arg" in
    --rebuild-image) rebuild_image=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,13p' "$0" | cut -c3-; exit 0 ;;
    *) echo "test:vm: unknown option $arg (see --help)" >&2; exit 64 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "test:vm: needs root (debootstrap, chroot, mkfs of a root-owned tree)" >&2; exit 1; }
# shellcheck source=test/vm/mirror.sh
. "$HERE/mirror.sh"
# No mirror configured is not an outage: fail now, before any build or retry.
mirror=$(debian_mirror) || exit 1

start=$(date +%s)
stamp() { printf '[%4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# --- host tools, installed from Debian only when missing ---------------------------------------
missing=()
for pair in debootstrap:debootstrap qemu-system-x86_64:qemu-system-x86 mkfs.ext4:e2fsprogs socat:socat; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  stamp "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- the project, built, and the image ---------------------------------------------------------
if [ "$build" -eq 1 ]; then
  stamp "npm run build"
  (cd "$REPO" && npm run -s build) || { echo "test:vm: npm run build failed" >&2; exit 1; }
fi
[ -f "$REPO/dist/provision/main.js" ] || { echo "test:vm: dist/ is missing; run npm run build" >&2; exit 1; }
stamp "image"
# The first build fetches Debian's packages: a mirror hiccup gets two more tries. If the mirror
# cannot even be reached, exit 77 (skipped, see test/vm/tier.sh) rather than blame the project.
image_ok=0
for attempt in 1 2 3; do
  if "$HERE/image.sh" $([ "$rebuild_image" -eq 1 ] && echo --rebuild); then image_ok=1; break; fi
  [ "$attempt" -lt 3 ] && { stamp "image build failed (try $attempt of 3); again in 20 s"; sleep 20; }
done
if [ "$image_ok" -eq 0 ]; then
  # A file: mirror has nothing to reach, so its failure is the image's own.
  mirror_host=${mirror#*://}; mirror_host=${mirror_host%%/*}
  case $mirror in https://*) port=443 ;; http://*) port=80 ;; *) port='' ;; esac
  case $mirror_host in *:*) port=${mirror_host##*:}; mirror_host=${mirror_host%:*} ;; esac
  if [ -n "$port" ] && ! timeout 20 bash -c "exec 3<>/dev/tcp/$mirror_host/$port" 2>/dev/null; then
    echo "test:vm: Debian's mirror $mirror_host does not answer; the image cannot be built" >&2
    exit 77
  fi
  echo "test:vm: the image could not be built (logs in $CACHE)" >&2
  exit 1
fi

stamp "project disk"
rm -rf "$RUN"
mkdir -p "$RUN/stage/test"
# Hard links (copies when the cache is on another filesystem): a snapshot of the checkout without
# copying 250 MB; mkfs.ext4 -d keeps the owners (root).
# A top-level symbolic link (a work tree's shared node_modules) is copied as what it points at.
stage() { # stage ENTRY DESTDIR
  local src; src=$(readlink -f "$1")
  cp -al "$src" "$2/$(basename "$1")" 2>/dev/null || cp -a "$src" "$2/$(basename "$1")"
}
for entry in "$REPO"/* "$REPO"/.gitignore; do
  case "$(basename "$entry")" in test|.git|.cache) continue ;; esac
  stage "$entry" "$RUN/stage"
done
for entry in "$REPO"/test/*; do
  [ "$(basename "$entry")" = vm ] && continue
  stage "$entry" "$RUN/stage/test"
done
mkdir -p "$RUN/stage/test/vm"
cp -a "$HERE"/*.sh "$RUN/stage/test/vm/"
# sd-provision installs only from code that no user but root can change, as a real install under
# /opt would be. A checkout owned by someone else (or group-writable) is copied for real, not
# linked, and made root's: chown on a hard link would change the checkout itself.
if [ -n "$(find "$RUN/stage" ! -type l \( ! -uid 0 -o -perm /022 \) -print -quit)" ]; then
  stamp "the checkout is not root's alone: copying it"
  mv "$RUN/stage" "$RUN/stage.links"
  cp -a "$RUN/stage.links" "$RUN/stage"
  rm -rf "$RUN/stage.links"
  chown -R 0:0 "$RUN/stage"
  chmod -R go-w "$RUN/stage"
fi
mkfs.ext4 -q -F -L sdproject -d "$RUN/stage" "$RUN/project.img" 1G >/dev/null
rm -rf "$RUN/stage"

# --- boot and serve the guest's key presses --------------------------------------------------
qemu=""
tailer=""
cleanup() {
  [ -n "$tailer" ] && kill "$tailer" 2>/dev/null || true
  if [ -n "$qemu" ] && kill -0 "$qemu" 2>/dev/null; then
    kill "$qemu" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$qemu" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$RUN/proto.log"
stamp "boot (qemu, software emulation)"
# -snapshot: the cached image is never written; -nic none: the guest needs no network.
qemu-system-x86_64 -machine q35 -m 2048 -smp 2 -display none -vga std -nic none -no-reboot -snapshot \
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 loglevel=3" \
  -drive "file=$CACHE/disk.raw,format=raw,if=virtio" \
  -drive "file=$RUN/project.img,format=raw,if=virtio,readonly=on" \
  -serial "file:$RUN/console.log" -serial "file:$RUN/proto.log" \
  -monitor "unix:$RUN/monitor.sock,server,nowait" >"$RUN/qemu.log" 2>&1 &
qemu=$!

sendkey() {
  printf 'sendkey %s\n' "$1" | timeout 10 socat - "UNIX-CONNECT:$RUN/monitor.sock" >/dev/null 2>&1 \
    || echo "test:vm: sendkey $1 failed" >&2
  sleep 0.15
}

declare -A result=()
exec {proto}< <(exec tail -n +1 -F "$RUN/proto.log" 2>/dev/null)
tailer=$!
deadline=$(( $(date +%s) + TIMEOUT ))
ended=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! IFS= read -r -t 5 -u "$proto" line; then
    kill -0 "$qemu" 2>/dev/null || break
    continue
  fi
  line=${line%$'\r'}
  case "$line" in
    "SDVM KEYS "*)
      [ "${SDVM_VERBOSE:-0}" = 1 ] && stamp "  keys: ${line#SDVM KEYS }"
      for k in ${line#SDVM KEYS }; do sendkey "$k"; done ;;
    "SDVM PASS "*|"SDVM FAIL "*)
      verdict=${line:5:4}; rest=${line:10}; name=${rest%% *}
      result[$name]=$verdict
      stamp "$verdict $rest" ;;
    "SDVM LOG "*) [ "${SDVM_VERBOSE:-0}" = 1 ] && stamp "  ${line:9}" ;;
    "SDVM END") ended=1; break ;;
  esac
done
[ "$ended" -eq 1 ] || stamp "the guest did not finish (deadline ${TIMEOUT} s or qemu exited); logs: $RUN/"
# The guest powers itself off after END; give it a moment, then the trap kills qemu regardless.
for _ in $(seq 1 20); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.5; done

passed=0
failed=0
for name in "${CHECKS[@]}"; do
  case "${result[$name]:-}" in
    PASS) passed=$((passed + 1)) ;;
    FAIL) failed=$((failed + 1)) ;;
    *) failed=$((failed + 1)); echo "FAIL $name (not reached)" ;;
  esac
done
for name in "${!result[@]}"; do
  [[ " ${CHECKS[*]} " == *" $name "* ]] || { [ "${result[$name]}" = FAIL ] && failed=$((failed + 1)); }
done
if [ "$failed" -gt 0 ]; then
  echo "--- guest log ($RUN/proto.log) ---"
  grep -a '^SDVM LOG' "$RUN/proto.log" | cut -c10- | tail -80
fi
stamp "total"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
