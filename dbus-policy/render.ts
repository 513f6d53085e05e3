// The system-bus policy for net.mowaka.SecretsDispatcher1, rendered from the two user names by a
// pure function so that sd-provision, `sd-provision --check`, the dev sandbox and the tests all
// use the same text. The daemon checks caller UIDs itself too; this file is the first gate.
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, REQUEST_INTERFACE } from '../core/names.js';

export interface PolicyUsers {
  /** Owns the name and may call everything (the daemon and the console run as this user). */
  companionUser: string;
  /** May call the request interface only. */
  desktopUser: string;
}

const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}\$?$/;

export function renderPolicy(users: PolicyUsers): string {
  for (const [key, value] of Object.entries(users)) {
    if (!USER_NAME.test(value)) throw new Error(`renderPolicy: ${key} ${JSON.stringify(value)} is not a POSIX user name`);
  }
  const { companionUser, desktopUser } = users;
  return `<?xml version="1.0"?>
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- Installed by sd-provision for desktop user ${desktopUser}; edits are overwritten. -->
<busconfig>
  <policy context="default">
    <deny own="${DISPATCHER_BUS_NAME}"/>
    <deny send_destination="${DISPATCHER_BUS_NAME}"/>
  </policy>
  <policy user="${desktopUser}">
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="${REQUEST_INTERFACE}"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="org.freedesktop.DBus.Peer"/>
  </policy>
  <policy user="${companionUser}">
    <allow own="${DISPATCHER_BUS_NAME}"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="${REQUEST_INTERFACE}"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="${CONSOLE_INTERFACE}"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}" send_interface="org.freedesktop.DBus.Peer"/>
  </policy>
</busconfig>
`;
}

/** Where sd-provision installs the rendered policy. */
export const POLICY_INSTALL_PATH = `/etc/dbus-1/system.d/${DISPATCHER_BUS_NAME}.conf`;

/**
 * A private bus that behaves like Debian's system bus (same default policy) and includes the
 * given policy files. Used by the dev sandbox and the integration tests.
 */
export function renderTestBusConfig(options: { socketPath: string; includeFiles: string[]; type?: 'system' | 'session' }): string {
  const includes = options.includeFiles.map((f) => `  <include>${f}</include>`).join('\n');
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>${options.type ?? 'system'}</type>
  <listen>unix:path=${options.socketPath}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>
${includes}
</busconfig>
`;
}

/** A policy that lets anyone own and call the name: only for proving the daemon checks UIDs itself. */
export function renderAllowAllPolicy(): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="default">
    <allow own="${DISPATCHER_BUS_NAME}"/>
    <allow send_destination="${DISPATCHER_BUS_NAME}"/>
  </policy>
</busconfig>
`;
}
