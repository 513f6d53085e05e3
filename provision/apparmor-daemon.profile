# AppArmor profile of the Secrets Dispatcher daemon, rendered by sd-provision into
# /etc/apparmor.d/secrets-dispatcher-daemon and loaded with apparmor_parser; the daemon unit enters
# it by name (AppArmorProfile=), so it attaches to no path.
#
# It exists for one pair of rules. The daemon holds CAP_SYS_PTRACE only to readlink /proc/PID/exe
# and cwd of the desktop user's processes, which the kernel checks as a ptrace *read*. Opening
# /proc/PID/mem (even for reading), process_vm_readv/writev and PTRACE_ATTACH are ptrace *trace*
# requests, which this profile does not grant: with them the capability would reach root, and the
# daemon parses untrusted OpenPGP keys, bundles and D-Bus messages. Everything else is allowed
# here because the unit's own sandbox (ProtectSystem=strict, PrivateNetwork=, SystemCallFilter=, …)
# already confines it; a second list of paths to keep in step would only break the daemon.
abi <abi/3.0>,

profile secrets-dispatcher-daemon flags=(attach_disconnected) {
  capability sys_ptrace,
  ptrace (read),

  file,
  network,
  unix,
  signal,
  dbus,
}
