// A small logger: one line per event on stderr, prefixed with the syslog level as `<N>` so
// journald keeps the level (sd-daemon(3)). Messages are our own text; never pass a secret here.
export type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error';

const SYSLOG_LEVEL: Record<LogLevel, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  notice(msg: string, fields?: Record<string, unknown>): void;
  warning(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  component?: string;
  write?: (line: string) => void;
}

/** Fields are rendered as key=value with JSON-quoted values, and newlines escaped, one line each. */
function renderFields(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = typeof value === 'string' ? value : value instanceof Error ? value.message : JSON.stringify(value);
    out += ` ${key}=${/[\s"=]/.test(text ?? '') ? JSON.stringify(text) : text}`;
  }
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = SYSLOG_LEVEL[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const component = options.component;
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    const n = SYSLOG_LEVEL[level];
    if (n > threshold) return;
    const prefix = component ? `${component}: ` : '';
    const line = `${prefix}${msg}${renderFields(fields)}`.replace(/[\r\n]+/g, '\\n');
    write(`<${n}>${line}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    notice: (m, f) => emit('notice', m, f),
    warning: (m, f) => emit('warning', m, f),
    error: (m, f) => emit('error', m, f),
    child: (name) => createLogger({ ...options, component: component ? `${component}/${name}` : name }),
  };
}
