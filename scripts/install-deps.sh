#!/usr/bin/env bash
# Installs the Debian packages Secrets Dispatcher needs to build, run and test. Idempotent; run as
# root (or through sudo). Called by `npm run setup` and by .ci/run.
set -euo pipefail

PACKAGES=(
  # the buses and the real clients that judge our Secret Service surface
  dbus dbus-daemon dbus-user-session libsecret-tools python3-secretstorage python3-keyring python3-cryptography
  # signing: real git and gpg
  git gpg gpg-agent
  # native modules: sd-notify links libsystemd; argon2, better-sqlite3 and node-pty compile
  libsystemd-dev build-essential python3
  # PAM hook tests and the console's real-VT test
  pamtester libpam-modules kbd
  # a gnome-keyring to compare against in bench/, tmux for screenshots and manual checks
  gnome-keyring tmux sqlite3 procps util-linux
)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
