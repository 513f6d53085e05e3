#!/usr/bin/env bash
# The Debian mirror the test images are built from: DEBIAN_MIRROR when set, else the mirror this
# machine's own apt uses, so no mirror host is written in the project. Read like apt reads it:
# /etc/apt/sources.list, then sources.list.d/*.list and deb822 *.sources in name order (other names
# are ignored, as apt ignores them). The first enabled `deb` source of Debian's main archive wins: a
# suite named exactly bookworm, else any other Debian release suite (security and -updates suites
# live elsewhere or lack packages debootstrap needs); it needs the main component and an http, https
# or file URI, which is what debootstrap can fetch from.
#
# Sourced by image.sh and run.sh for debian_mirror [APT_DIR]; run directly it prints the mirror:
#   test/vm/mirror.sh [APT_DIR]      (APT_DIR defaults to /etc/apt)

DEBIAN_SUITES=' bookworm trixie forky bullseye buster stable oldstable oldoldstable testing unstable sid '

# deb822 (*.sources): a stanza per paragraph, field names case-insensitive, continuation lines
# indented, "Enabled: no" switches a stanza off. Prints "URI SUITE" per URI and suite.
DEB822_AWK='
function flush(   i, j, n, u, s, types, uris, suites, comps, deb, main) {
  if (enabled != "no") {
    n = split(field["types"], types); for (i = 1; i <= n; i++) if (types[i] == "deb") deb = 1
    n = split(field["components"], comps); for (i = 1; i <= n; i++) if (comps[i] == "main") main = 1
    if (deb && main) {
      u = split(field["uris"], uris); s = split(field["suites"], suites)
      for (i = 1; i <= u; i++) for (j = 1; j <= s; j++) print uris[i], suites[j]
    }
  }
  delete field; key = ""; enabled = ""
}
/^#/ { next }
/^[ \t]*$/ { flush(); next }
/^[ \t]/ { if (key != "") field[key] = field[key] " " $0; next }
index($0, ":") > 0 {
  key = tolower(substr($0, 1, index($0, ":") - 1)); value = substr($0, index($0, ":") + 1)
  field[key] = value
  if (key == "enabled") { gsub(/[ \t]/, "", value); enabled = tolower(value) }
}
END { flush() }'
# One-line style (*.list): "deb [options] URI SUITE COMPONENT...".
LIST_AWK='
{ sub(/#.*/, ""); gsub(/\[[^]]*\]/, "") }
$1 == "deb" { for (i = 4; i <= NF; i++) if ($i == "main") { print $2, $3; break } }'

# Prints "URI SUITE" for every suite of every enabled deb source with the main component, in the
# order apt reads them.
apt_deb_sources() {
  local dir=$1 name
  [ -f "$dir/sources.list" ] && awk "$LIST_AWK" "$dir/sources.list"
  while IFS= read -r name; do
    [ -f "$dir/sources.list.d/$name" ] || continue
    case $name in
      *.list) awk "$LIST_AWK" "$dir/sources.list.d/$name" ;;
      *.sources) awk "$DEB822_AWK" "$dir/sources.list.d/$name" ;;
    esac
  done < <(LC_ALL=C ls -1 "$dir/sources.list.d" 2>/dev/null)
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "$DEBIAN_MIRROR"
    return 0
  fi
  local dir=${1:-/etc/apt} uri suite fallback=''
  while read -r uri suite; do
    case $uri in http://* | https://* | file:/*) ;; *) continue ;; esac
    uri=${uri%/}
    if [ "$suite" = bookworm ]; then
      printf '%s\n' "$uri"
      return 0
    fi
    [ -z "$fallback" ] && [[ $DEBIAN_SUITES == *" $suite "* ]] && fallback=$uri
  done < <(apt_deb_sources "$dir")
  if [ -n "$fallback" ]; then
    printf '%s\n' "$fallback"
    return 0
  fi
  echo "${0##*/}: no Debian mirror in this machine's apt configuration ($dir/sources.list, $dir/sources.list.d/*.list" \
    "or *.sources: an enabled deb source for a Debian release such as bookworm, component main, http(s) or" \
    "file URI); set DEBIAN_MIRROR to the mirror's URI" >&2
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  debian_mirror "${1:-/etc/apt}"
fi
