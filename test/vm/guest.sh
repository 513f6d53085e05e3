#!/bin/bash
# The VM test's scenarios, run inside the guest as root by sd-vm-guest.service (test/vm/image.sh)
# from the project disk mounted at /opt/secrets-dispatcher. It speaks a line protocol on /dev/ttyS1,
# which run.sh reads on the host:
#   SDVM PASS|FAIL <check> <detail>   one per acceptance check
#   SDVM KEYS <key> ...               press these keys (qemu `sendkey` names) on the guest's keyboard
#   SDVM LOG <text>                   diagnostics, kept in the run log
#   SDVM END                          all done (the guest then powers off)
# The host only types keys; every decision about what happened is taken here, from the real system:
# logind, systemd, the processes' output and the screen of VT8 (/dev/vcsa8). Every wait has a deadline.
set -u
PKG=/opt/secrets-dispatcher
DESK=desk
OTHER=other
COMPANION=secrets-$DESK
VT=8
PASSPHRASE='vm test pass 42'
SECRET='s3cret-from-the-vm'
T_LONG=${SDVM_GUEST_TIMEOUT:-240}

stty -F /dev/ttyS1 115200 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
proto() { printf 'SDVM %s\n' "$*" >&3; }
log() { local line; while IFS= read -r line; do proto "LOG $line"; done <<<"$*"; }
pass() { proto "PASS $1 ${2:-}"; }
fail() { proto "FAIL $1 ${2:-}"; }
check() { # check NAME DETAIL CONDITION...: PASS or FAIL on the condition's exit status
  local name=$1 detail=$2; shift 2
  if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}

DESK_UID=$(id -u "$DESK")
# As the desktop user in their own session bus (logind's /run/user/UID); setpriv opens no PAM session
# of its own, so nothing here keeps the user's manager alive after the real login ends.
as_user() {
  local user=$1; shift
  local uid; uid=$(id -u "$user")
  setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups --reset-env -- \
    env HOME="/home/$user" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin \
    XDG_RUNTIME_DIR="/run/user/$uid" DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$uid/bus" \
    LANG=C.UTF-8 "$@"
}
as_desk() { (cd "/home/$DESK" && as_user "$DESK" "$@"); }
sd() { as_desk "$PKG/bin/secrets-dispatcher" "$@"; }

# wait_until SECONDS COMMAND...: poll every 0.5 s; false when the deadline passes.
wait_until() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.5
  done
}

# --- the keyboard (through the host) and the screen of VT8 -------------------------------------
keys() { proto "KEYS $*"; sleep "$(awk -v n=$# 'BEGIN { printf "%.1f", 0.5 + n * 0.15 }')"; }
type_text() { # type_text TEXT: one sendkey per character, then Enter
  local text=$1 out=() c i
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    case "$c" in
      ' ') out+=(spc) ;;
      [a-z0-9]) out+=("$c") ;;
      [A-Z]) out+=("shift-${c,,}") ;;
      -) out+=(minus) ;;
      .) out+=(dot) ;;
      *) log "type_text: no key for '$c'"; return 1 ;;
    esac
  done
  keys "${out[@]}" ret
}
screen() { # the text of VT8, one line per row
  python3 - "$VT" <<'PY' 2>/dev/null
import sys
data = open(f"/dev/vcsa{sys.argv[1]}", "rb").read()
rows, cols = data[0], data[1]
cells = data[4:]
for r in range(rows):
    print(bytes(cells[(r * cols + c) * 2] or 32 for c in range(cols)).decode("cp437").rstrip())
PY
}
on_screen() { screen | grep -qF -- "$1"; }
pending_count() { screen | sed -n 's/.* \([0-9][0-9]*\) pending .*/\1/p' | head -1; }
has_pending() { [ "$(pending_count)" -ge 1 ] 2>/dev/null; }
vt_mode() { # 0 VT_AUTO, 1 VT_PROCESS (VT_GETMODE on /dev/ttyN)
  python3 - "$VT" <<'PY' 2>/dev/null
import fcntl, struct, sys
with open(f"/dev/tty{sys.argv[1]}", "rb", buffering=0) as f:
    print(struct.unpack("bbhhh", fcntl.ioctl(f, 0x5601, b"\0" * 8))[0])
PY
}
dump_screen() { log "--- VT$VT ---"; log "$(screen | sed '/^$/d')"; }
dump_journal() { log "--- journal $* ---"; log "$(journalctl --no-pager -o short-monotonic -n 40 "$@" 2>&1)"; }

# approve_while PID SECONDS: press y on VT8 whenever a request is pending, until PID exits.
# (libsecret may split one lookup into several reads, each asked for.)
approve_while() {
  local pid=$1 end=$((SECONDS + $2)) n=0
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -ge "$end" ] && { log "approve_while: $pid still running after $2 s"; return 1; }
    if has_pending; then
      sleep 1 # the console ignores decision keys for a guard time after a request appears
      keys y
      n=$((n + 1))
    fi
    sleep 1
  done
  log "approved $n request(s)"
}

unit_active() { [ "$(systemctl is-active "$1" 2>/dev/null)" = active ]; }
unit_inactive() { case "$(systemctl is-active "$1" 2>/dev/null)" in inactive|failed|unknown) return 0 ;; *) return 1 ;; esac; }
companion_units="secrets-dispatcher.target secrets-dispatcher-daemon.service secrets-dispatcher-console@$VT.service"
all_active() { local u; for u in $companion_units; do unit_active "$u" || return 1; done; }
all_inactive() { local u; for u in $companion_units; do unit_inactive "$u" || return 1; done; }
desk_session() { loginctl list-sessions --no-legend 2>/dev/null | awk -v u="$DESK" '$3 == u && /tty1/ { print $1; exit }'; }
has_desk_session() { [ -n "$(desk_session)" ]; }
no_desk_session() { [ -z "$(desk_session)" ]; }

# A listing of everything sd-provision may touch, to prove --uninstall leaves no trace.
manifest() {
  {
    find /etc /usr/local /var/lib /home -xdev \
      \( -path /var/lib/systemd -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path "/home/$DESK/.bash_history" \
         -o -path "/home/$DESK/.gnupg" -o -path "/home/$DESK/repo" -o -path "/home/$DESK/.cache" \) -prune \
      -o -printf '%p %M %u %g\n'
    # The shadow tools' backups (passwd- ...) hold the state before the last change by design;
    # the uninstall check below makes sure they do not name the companion instead.
    find /etc /usr/local "/home/$DESK" -xdev \
      \( -path "/home/$DESK/.gnupg" -o -path "/home/$DESK/repo" -o -path "/home/$DESK/.cache" \
         -o -path "/home/$DESK/.bash_history" -o -regex '/etc/\(passwd\|group\|shadow\|gshadow\|subuid\|subgid\)-' \) -prune \
      -o -type f -exec sha256sum {} +
  } | sort
}

# ================================================================================================
proto "LOG guest up after $(cut -d' ' -f1 /proc/uptime) s; system: $(timeout 300 systemctl is-system-running --wait 2>&1)"
[ -x "$PKG/bin/sd-provision" ] || { fail setup "no project at $PKG"; proto END; systemctl poweroff; exit 1; }
systemctl --failed --no-legend --plain 2>/dev/null | while read -r u _; do [ -n "$u" ] && log "failed unit: $u"; done

manifest >/run/sdvm-before.manifest

# --- 0. sd-provision refuses to install from a copy the desktop user can write -------------------
copy=/run/sdvm-user-copy
rm -rf "$copy"; mkdir -p "$copy"
cp -R "$PKG/bin" "$PKG/dist" "$PKG/package.json" "$PKG/systemd" "$PKG/provision" "$copy/"
ln -s "$PKG/node_modules" "$copy/node_modules"
chown -R "$DESK:" "$copy"
# /run is mounted noexec: node runs the script, as `sudo node …/bin/sd-provision` would.
out=$(/usr/bin/node "$copy/bin/sd-provision" --user "$DESK" --git 2>&1); rc=$?
log "sd-provision from $copy: exit $rc"; log "$out"
installed_any=$(ls /etc/systemd/system/secrets-dispatcher* /etc/secrets-dispatcher 2>/dev/null | wc -l)
check provision-refuses-writable "exit $rc; $(grep -o "refusing to install: $copy is owned by UID $DESK_UID" <<<"$out"); fix shown: $(grep -c '^Fix: copy the package to a new root-owned directory' <<<"$out"); files installed: $installed_any" \
  eval '[ $rc -eq 1 ] && grep -q "refusing to install: $copy is owned by UID $DESK_UID, not root" <<<"$out" && grep -q "^Fix: copy the package to a new root-owned directory and run sd-provision from there: sudo cp -RL $copy " <<<"$out" && [ "$installed_any" -eq 0 ]'
rm -rf "$copy"

# --- provision ---------------------------------------------------------------------------------
log "AppArmor: enabled=$(cat /sys/module/apparmor/parameters/enabled 2>&1) parser=$(command -v apparmor_parser); yama ptrace_scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>&1); core_pattern=$(cat /proc/sys/kernel/core_pattern) suid_dumpable=$(cat /proc/sys/fs/suid_dumpable)"
out=$("$PKG/bin/sd-provision" --user "$DESK" --git 2>&1); rc=$?
log "sd-provision --user $DESK --git: exit $rc"
log "$out"
before_login=$(systemctl is-active secrets-dispatcher.target 2>&1)

# --- 1. the login starts the companion ---------------------------------------------------------
mkdir -p /run/systemd/system/getty@tty1.service.d
cat >/run/systemd/system/getty@tty1.service.d/autologin.conf <<EOF
[Service]
ExecStart=
ExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --noclear --autologin $DESK %I \$TERM
EOF
systemctl daemon-reload
chvt 1
systemctl restart getty@tty1.service
t0=$SECONDS
if wait_until 60 has_desk_session && wait_until "$T_LONG" all_active; then
  pam_line=$(journalctl --no-pager -t secrets-dispatcher-pam -o cat 2>/dev/null | grep -m1 queued)
  check login-starts-companion "before login: $before_login; after the tty1 login ($(desk_session)): all active in $((SECONDS - t0)) s; hook: ${pam_line:-no journal line}" \
    test "$before_login" != active -a -n "$pam_line"
else
  fail login-starts-companion "session: '$(desk_session)'; $(for u in $companion_units; do printf '%s=%s ' "$u" "$(systemctl is-active "$u")"; done)"
  dump_journal -u secrets-dispatcher-daemon.service -u "secrets-dispatcher-console@$VT.service"
  dump_journal -t secrets-dispatcher-pam -t login -t systemd-logind
fi

# --- the store: created on VT8 at the console's first start (typed through the host) -------------
chvt "$VT"
if wait_until "$T_LONG" on_screen 'First run'; then
  sleep 1
  type_text "$PASSPHRASE"
  wait_until 30 on_screen 'passphrase again' && type_text "$PASSPHRASE"
  recovery_or_unlocked() { on_screen 'Recovery code' || on_screen 'store unlocked'; }
  wait_until "$T_LONG" recovery_or_unlocked
  if on_screen 'Recovery code'; then
    log "recovery code shown on VT$VT"
    keys ret
  else
    log "no recovery code was shown after creating the store"; dump_screen
  fi
  wait_until 30 on_screen 'store unlocked' && log "store created and unlocked on VT$VT"
fi
on_screen 'unlocked' || { log "store not created"; dump_screen; dump_journal -u "secrets-dispatcher-console@$VT.service" -u secrets-dispatcher-daemon.service; }

printf %s "$SECRET" | as_desk timeout 120 secret-tool store --label='VM test secret' service sdvm account "$DESK" >/run/sdvm-store.out 2>&1 &
store_pid=$!
approve_while "$store_pid" 150
wait "$store_pid"; log "secret-tool store: exit $? $(cat /run/sdvm-store.out)"

# --- 2. lookup waits, VT8 shows the requester's executable; 3. sendkey y approves ---------------
as_desk timeout 600 secret-tool lookup service sdvm account "$DESK" >/run/sdvm-lookup.out 2>/run/sdvm-lookup.err &
lookup_pid=$!
# The requester's executable (an `exe` field, not merely a name in a command line), from the list's
# detail pane or (Enter) the full detail view. Through the agent, the daemon verifies only the agent
# (its own exe field is the agent's node); the client's executable is the agent's claim.
exe_line() { screen | grep -E '^ *exe +/usr/bin/secret-tool|requester\.exe: /usr/bin/secret-tool'; }
shows_exe() {
  has_pending || return 1
  exe_line >/dev/null && return 0
  keys ret
  wait_until 10 exe_line >/dev/null
}
if wait_until "$T_LONG" has_pending; then
  shows_exe
  dump_screen
  sleep 3
  waiting=no; kill -0 "$lookup_pid" 2>/dev/null && [ ! -s /run/sdvm-lookup.out ] && waiting=yes
  check lookup-waits-shows-exe "secret-tool still waiting: $waiting; VT$VT shows: $( (exe_line || screen | grep -m1 -E '^ *exe ') | tr -s ' ' | paste -sd';')" \
    eval 'shows_exe && [ $waiting = yes ]'
else
  fail lookup-waits-shows-exe "no request on VT$VT"; dump_screen
  dump_journal --user-unit secrets-dispatcher-agent.service _UID="$DESK_UID"
fi
sleep 1
keys y
end=$((SECONDS + 120))
while kill -0 "$lookup_pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
  sleep 2; kill -0 "$lookup_pid" 2>/dev/null && has_pending && { sleep 1; keys y; }
done
wait "$lookup_pid"; rc=$?
got=$(cat /run/sdvm-lookup.out)
check sendkey-approves-secret "secret-tool exit $rc, got $([ "$got" = "$SECRET" ] && echo 'the stored secret' || echo "'$got' $(cat /run/sdvm-lookup.err)")" \
  test "$got" = "$SECRET"
keys esc

# --- 4. sd-provision --check: every line PASS (the agent is running by now) ----------------------
out=$("$PKG/bin/sd-provision" --check 2>&1); rc=$?
log "$out"
not_pass=$(grep -cE '^(FAIL|SKIP)' <<<"$out")
n_pass=$(grep -c '^PASS' <<<"$out")
if grep -q '^FAIL store' <<<"$out"; then
  state=/var/lib/secrets-dispatcher/$COMPANION
  log "store files: $(ls -l "$state" | tail -n +2 | awk '{ print $5, $9 }' | paste -sd';'); application_id bytes 68-71 of store.db: $(od -A n -t x1 -j 68 -N 4 "$state/store.db")"
fi
check provision-check "exit $rc; $n_pass PASS, $not_pass FAIL/SKIP$( [ "$not_pass" -gt 0 ] && printf ': %s' "$(grep -E '^(FAIL|SKIP)' <<<"$out" | cut -c1-60 | paste -sd';')")" \
  test "$rc" -eq 0 -a "$not_pass" -eq 0 -a "$n_pass" -ge 5

# --- 4a. the daemon's capability reads other users' /proc, never writes root's memory -------------
# The checks run in a transient unit with the daemon unit's own [Service] confinement (user,
# capabilities, AppArmor profile, sandbox), then again without the profile: that control shows the
# capability alone writes a root process's memory (process_vm_writev) and opens the mem file of a
# process whose file modes allow it, so what refuses both is the profile. (/proc/1/mem is refused
# in both: it is root's, mode 0600, and the daemon has no CAP_DAC_OVERRIDE.)
daemon_unit=/etc/systemd/system/secrets-dispatcher-daemon.service
confinement() { # the daemon unit's [Service] settings that shape the process, minus $1 (a key, optional)
  sed -n '/^\[Service\]/,/^\[/p' "$daemon_unit" | grep -E '^[A-Za-z]+=' \
    | grep -vE '^(Type|NotifyAccess|WatchdogSec|BusName|ExecStart|Restart|RestartSec|TimeoutStartSec|Environment)=' \
    | grep -vE "^${1:-(none)}="
}
cat >/run/sdvm-ptrace.py <<'PY'
import ctypes, errno, os, sys
root_pid, addr, desk_pid, peer_pid = (int(a) for a in sys.argv[1:5])
name = lambda e: errno.errorcode.get(e, str(e))
out = []
# /proc/1/mem is root's 0600 file; a process of our own UID has a mem file we may open by its mode.
for key, path in (("mem", "/proc/1/mem"), ("peer_mem", f"/proc/{peer_pid}/mem")):
    try:
        os.close(os.open(path, os.O_WRONLY))
        out.append(key + "=opened")
    except OSError as e:
        out.append(key + "=" + name(e.errno))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
libc = ctypes.CDLL(None, use_errno=True)
libc.process_vm_writev.restype = ctypes.c_ssize_t
src = ctypes.create_string_buffer(b"X")
local, remote = iovec(ctypes.addressof(src), 1), iovec(addr, 1)
n = libc.process_vm_writev(root_pid, ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0))
out.append("vm_writev=" + ("wrote" if n == 1 else name(ctypes.get_errno())))
try:
    out.append("exe=" + os.readlink(f"/proc/{desk_pid}/exe"))
except OSError as e:
    out.append("exe=" + name(e.errno))
print(" ".join(out))
PY
chmod 0644 /run/sdvm-ptrace.py
python3 -c 'import ctypes, time; b = ctypes.create_string_buffer(b"unchanged"); print(ctypes.addressof(b), flush=True); time.sleep(900)' >/run/sdvm-target.addr &
target_pid=$!
as_user "$DESK" sleep 900 &
as_user "$COMPANION" sleep 900 &
wait_until 10 test -s /run/sdvm-target.addr
sleep_of() { pgrep -nu "$1" -x sleep; }
wait_until 10 sleep_of "$DESK" >/dev/null; wait_until 10 sleep_of "$COMPANION" >/dev/null
desk_pid=$(sleep_of "$DESK"); peer_pid=$(sleep_of "$COMPANION"); target_addr=$(cat /run/sdvm-target.addr)
peek() { python3 -c 'import sys; f = open(f"/proc/{sys.argv[1]}/mem", "rb"); f.seek(int(sys.argv[2])); print(f.read(9).decode(errors="replace"))' "$target_pid" "$target_addr"; }
in_unit() { # in_unit PROPS...: the checker as a transient unit with these settings
  local props=() p
  while IFS= read -r p; do props+=(-p "$p"); done
  timeout 60 systemd-run --quiet --wait --pipe --collect "${props[@]}" /usr/bin/python3 /run/sdvm-ptrace.py "$target_pid" "$target_addr" "$desk_pid" "$peer_pid" 2>&1
}
log "daemon confinement: $(confinement | paste -sd' ')"
confined=$(confinement | in_unit)
after_confined=$(peek)
control=$(confinement AppArmorProfile | in_unit)
after_control=$(peek)
daemon_pid=$(systemctl show -p MainPID --value secrets-dispatcher-daemon.service)
daemon_label=$(cat "/proc/$daemon_pid/attr/current" 2>&1)
log "confined: $confined; root buffer then: $after_confined; without the profile: $control; root buffer then: $after_control; daemon $daemon_pid label: $daemon_label"
check ptrace-read-only "daemon unit's confinement as $COMPANION: $confined (root's buffer: $after_confined); the real daemon runs as '$daemon_label'; control without the profile: $control" \
  eval '[[ "$confined" == "mem=E"*" peer_mem=E"*" vm_writev=E"*" exe=/usr/bin/sleep" ]] && [ "$after_confined" = unchanged ] && [ "$daemon_label" = "secrets-dispatcher-daemon (enforce)" ] && [[ "$control" == *"peer_mem=opened vm_writev=wrote "* ]] && [ "$after_control" = Xnchanged ]'
kill "$target_pid" "$desk_pid" "$peer_pid" 2>/dev/null

# --- 4b. no core files: core size 0 and undumpable, with systemd-coredump installed ----------------
no_core() { # no_core UNIT: "pid core=<soft> owner-of-environ=<uid> uid=<process uid>"
  local pid; pid=$(systemctl show -p MainPID --value "$1")
  printf '%s core=%s environ-owner=%s uid=%s' "$pid" \
    "$(awk '/^Max core file size/ { print $5 }' "/proc/$pid/limits")" "$(stat -c %u "/proc/$pid/environ")" "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")"
}
companion_uid=$(id -u "$COMPANION")
d=$(no_core secrets-dispatcher-daemon.service); c=$(no_core "secrets-dispatcher-console@$VT.service")
guarded() { [[ "$1" == *" core=0 environ-owner=0 uid=$companion_uid" ]]; }
check no-core-dumps "core_pattern $(cut -c1-40 /proc/sys/kernel/core_pattern) suid_dumpable $(cat /proc/sys/fs/suid_dumpable); daemon $d; console $c (environ owned by 0 = undumpable)" \
  eval '[[ "$(cat /proc/sys/kernel/core_pattern)" == *systemd-coredump* ]] && guarded "$d" && guarded "$c"'

# --- 5. git commit -S approved on VT8, git verify-commit ----------------------------------------
sd gpg generate --name 'Desk Vm' --email desk@sd-vm.test >/run/sdvm-gen.out 2>&1 &
gen_pid=$!
approve_while "$gen_pid" 300
wait "$gen_pid"; log "gpg generate: exit $? $(cat /run/sdvm-gen.out)"
fpr=$(sd gpg list 2>/dev/null | grep -oE '[0-9A-F]{40}' | head -1)
sd gpg export-public "$fpr" 2>/dev/null | as_desk gpg --batch --quiet --import 2>&1 | while read -r l; do log "gpg import: $l"; done
as_desk git init -q "/home/$DESK/repo"
as_desk sh -c "cd /home/$DESK/repo && echo 'hello from the VM' >README && git add README"
git_c=(-C "/home/$DESK/repo" -c user.name='Desk Vm' -c user.email=desk@sd-vm.test -c "user.signingkey=$fpr")
as_desk timeout 600 git "${git_c[@]}" commit -q -S -m 'signed in the VM' >/run/sdvm-commit.out 2>&1 &
commit_pid=$!
if wait_until "$T_LONG" has_pending; then
  shown=$(screen | grep -m1 -oE 'SIGN.*' | cut -c1-70)
  approve_while "$commit_pid" 180
fi
wait "$commit_pid"; rc=$?
log "git commit -S: exit $rc $(cat /run/sdvm-commit.out)"
gpg_program=$(as_desk git config --global gpg.program)
verify=$(as_desk git -C "/home/$DESK/repo" verify-commit HEAD 2>&1); vrc=$?
log "$verify"
check git-commit-signed "key ${fpr:-none}; VT$VT: ${shown:-nothing}; gpg.program=$gpg_program; commit exit $rc; verify-commit exit $vrc $(grep -o 'Good signature[^"]*"[^"]*"' <<<"$verify")" \
  test -n "$fpr" -a "$rc" -eq 0 -a "$vrc" -eq 0 -a "$gpg_program" = "$PKG/bin/sd-gpg"
keys esc

# --- 6. another user is refused by the bus ------------------------------------------------------
ping() { as_user "$1" timeout 30 dbus-send --system --print-reply --dest=net.mowaka.SecretsDispatcher1 \
  /net/mowaka/SecretsDispatcher1 net.mowaka.SecretsDispatcher1.Ping 2>&1; }
other_out=$(ping "$OTHER"); other_rc=$?
desk_out=$(ping "$DESK"); desk_rc=$?
log "ping as $OTHER: $other_out"; log "ping as $DESK: $desk_out"
check other-user-refused "$OTHER: exit $other_rc $(grep -o 'org.freedesktop.DBus.Error.AccessDenied' <<<"$other_out" | head -1); $DESK: exit $desk_rc" \
  eval '[ $other_rc -ne 0 ] && grep -q AccessDenied <<<"$other_out" && [ $desk_rc -eq 0 ]'

# --- 7. kill -9 of the console: VT back in VT_AUTO, console restarts, request still pending ------
as_desk timeout 600 secret-tool lookup service sdvm account "$DESK" >/run/sdvm-lookup2.out 2>&1 &
lookup_pid=$!
if wait_until "$T_LONG" has_pending; then
  unit=secrets-dispatcher-console@$VT.service
  old_pid=$(systemctl show -p MainPID --value "$unit")
  mode_before=$(vt_mode)
  kill -9 "$old_pid"
  saw_auto=no
  end=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$end" ]; do
    [ "$(vt_mode)" = 0 ] && { saw_auto=yes; break; }
    sleep 0.1
  done
  new_pid=
  restarted() { new_pid=$(systemctl show -p MainPID --value "$unit"); [ "$new_pid" != 0 ] && [ "$new_pid" != "$old_pid" ] && unit_active "$unit"; }
  wait_until "$T_LONG" restarted
  request_back() { has_pending && on_screen secret-tool; }
  wait_until "$T_LONG" request_back; shown=$?
  still=no; kill -0 "$lookup_pid" 2>/dev/null && [ ! -s /run/sdvm-lookup2.out ] && still=yes
  check console-kill9-recovers "VT mode before kill $mode_before (1=VT_PROCESS), VT_AUTO seen after: $saw_auto; console pid $old_pid -> ${new_pid:-none}; request shown again: $([ $shown = 0 ] && echo yes || echo no); secret-tool still waiting: $still" \
    eval '[ "$mode_before" = 1 ] && [ $saw_auto = yes ] && [ -n "$new_pid" ] && [ $shown = 0 ] && [ $still = yes ]'
  [ $shown = 0 ] || { dump_screen; dump_journal -u "$unit"; }
  approve_while "$lookup_pid" 120
  log "lookup after the console restart: '$(cat /run/sdvm-lookup2.out)'"
else
  fail console-kill9-recovers "no request on VT$VT"; dump_screen
fi
kill "$lookup_pid" 2>/dev/null

# --- 7a. an aborting daemon leaves no core file --------------------------------------------------
# The control, a plain process of the companion aborted right after, is dumped by systemd-coredump:
# the handler works, and it got nothing for the daemon (undumpable: the kernel does not even ask).
daemon_pid=$(systemctl show -p MainPID --value secrets-dispatcher-daemon.service)
kill -ABRT "$daemon_pid"
as_user "$COMPANION" sleep 900 &
wait_until 10 sleep_of "$COMPANION" >/dev/null
control_pid=$(sleep_of "$COMPANION")
kill -ABRT "$control_pid"
coredump_about() { journalctl --no-pager -o cat -t systemd-coredump 2>/dev/null | grep -iE "process $1 "; }
wait_until 90 coredump_about "$control_pid" >/dev/null
control_said=$(coredump_about "$control_pid" | head -1 | cut -c1-100)
daemon_said=$(coredump_about "$daemon_pid" | head -1 | cut -c1-100)
files=$(find /var/lib/systemd/coredump -name "*.$daemon_pid.*" 2>/dev/null | wc -l)
check daemon-abort-no-core "SIGABRT to the daemon ($daemon_pid): systemd-coredump said ${daemon_said:-nothing}, core files: $files; to a plain $COMPANION process ($control_pid): ${control_said:-nothing}" \
  eval '[ -n "$control_said" ] && [ -z "$daemon_said" ] && [ "$files" -eq 0 ]'

# --- 8. logout stops the companion -------------------------------------------------------------
rm -f /run/systemd/system/getty@tty1.service.d/autologin.conf
systemctl daemon-reload
timeout 20 chvt 1
sleep 1
keys e x i t ret
t0=$SECONDS
if wait_until 60 no_desk_session && wait_until "$T_LONG" all_inactive; then
  pass logout-stops-companion "session gone, $(for u in $companion_units; do printf '%s=%s ' "${u#secrets-dispatcher}" "$(systemctl is-active "$u")"; done)in $((SECONDS - t0)) s"
else
  fail logout-stops-companion "session: '$(desk_session)'; $(for u in $companion_units; do printf '%s=%s ' "$u" "$(systemctl is-active "$u")"; done)"
  log "$(loginctl list-sessions --no-legend 2>&1)"
fi

# --- 9. --uninstall leaves no trace ------------------------------------------------------------
companion_ps() { ps -u "$COMPANION" -o pid=,etimes=,args= 2>/dev/null | cut -c1-150; }
log "processes of $COMPANION before uninstall: $(companion_ps | paste -sd';')"
out=$("$PKG/bin/sd-provision" --uninstall 2>&1); rc=$?
for pid in $(grep -o 'used by process [0-9]*' <<<"$out" | grep -o '[0-9]*$'); do
  log "process $pid: $(ps -o pid=,user=,etimes=,args= -p "$pid" 2>&1 | cut -c1-150); unit: $(ps -o unit= -p "$pid" 2>/dev/null)"
done
log "processes of $COMPANION after uninstall: $(companion_ps | paste -sd';')"
if [ "$rc" -ne 0 ]; then
  dump_journal -t secrets-dispatcher-pam
  dump_journal -u secrets-dispatcher-daemon.service
  dump_journal -u secrets-dispatcher.target
fi
log "sd-provision --uninstall: exit $rc"; log "$out"
rmdir /run/systemd/system/getty@tty1.service.d 2>/dev/null
systemctl daemon-reload
manifest >/run/sdvm-after.manifest
diff_out=$(diff /run/sdvm-before.manifest /run/sdvm-after.manifest)
log "$diff_out"
leftover_units=$(systemctl list-unit-files --no-legend 'secrets-dispatcher*' 2>/dev/null | wc -l)
in_backups=$(grep -l "^$COMPANION:" /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow- /etc/subuid- /etc/subgid- 2>/dev/null | paste -sd' ')
check uninstall-no-trace "exit $rc; $(grep -c '^[<>]' <<<"$diff_out") changed paths; companion user: $(id "$COMPANION" >/dev/null 2>&1 && echo present || echo gone); unit files left: $leftover_units; in shadow backups: ${in_backups:-none}" \
  eval '[ $rc -eq 0 ] && [ -z "$diff_out" ] && ! id "$COMPANION" >/dev/null 2>&1 && [ $leftover_units -eq 0 ] && [ -z "$in_backups" ]'

proto END
sync
systemctl poweroff
