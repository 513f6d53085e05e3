// Bus names, object paths and interface names: the wire contract, defined once (DESIGN §4).

export const DISPATCHER_BUS_NAME = 'net.mowaka.SecretsDispatcher1';
export const DISPATCHER_OBJECT_PATH = '/net/mowaka/SecretsDispatcher1';
/** The request interface: the desktop user's agent, sd-gpg and CLI call it. */
export const REQUEST_INTERFACE = 'net.mowaka.SecretsDispatcher1';
/** The console interface: only the companion UID may call it. */
export const CONSOLE_INTERFACE = 'net.mowaka.SecretsDispatcher1.Console';
export const ERROR_PREFIX = 'net.mowaka.SecretsDispatcher1.Error';

export const SECRET_SERVICE_BUS_NAME = 'org.freedesktop.secrets';
export const SECRET_SERVICE_PATH = '/org/freedesktop/secrets';
export const SECRET_SERVICE_INTERFACE = 'org.freedesktop.Secret.Service';
export const SECRET_COLLECTION_INTERFACE = 'org.freedesktop.Secret.Collection';
export const SECRET_ITEM_INTERFACE = 'org.freedesktop.Secret.Item';
export const SECRET_SESSION_INTERFACE = 'org.freedesktop.Secret.Session';
export const SECRET_PROMPT_INTERFACE = 'org.freedesktop.Secret.Prompt';

export const DBUS_NAME = 'org.freedesktop.DBus';
export const DBUS_PATH = '/org/freedesktop/DBus';
export const DBUS_INTERFACE = 'org.freedesktop.DBus';
export const INTROSPECTABLE_INTERFACE = 'org.freedesktop.DBus.Introspectable';
export const PROPERTIES_INTERFACE = 'org.freedesktop.DBus.Properties';
export const PEER_INTERFACE = 'org.freedesktop.DBus.Peer';

export const NOTIFICATIONS_BUS_NAME = 'org.freedesktop.Notifications';
export const NOTIFICATIONS_PATH = '/org/freedesktop/Notifications';
