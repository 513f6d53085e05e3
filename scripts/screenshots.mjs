#!/usr/bin/env node
// Makes docs/console-secret.png and docs/console-sign.png from a real run: a private system bus with
// our policy, the real daemon, the real console (`secrets-dispatcher tui`) in a pty, a real secret
// request and a real signing request from this script. The pty's screen is read cell by cell from
// @xterm/headless (characters, colours, bold, inverse), written as an HTML page, and photographed by
// headless Chromium (Debian package `chromium`).
//   npm run build && node scripts/screenshots.mjs [--out docs]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import xterm from '@xterm/headless';
import pty from 'node-pty';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
const { connectBus, disconnectBus, nameHasOwner, callMethod, toVariantMap } = await dist('core/dbus/bus.js');
const { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } = await dist('core/names.js');
const { renderPolicy, renderTestBusConfig } = await dist('dbus-policy/render.js');

const outIndex = process.argv.indexOf('--out');
const OUT = resolve(outIndex >= 0 ? process.argv[outIndex + 1] : join(ROOT, 'docs'));
const COLS = 120;
const ROWS = 40;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// xterm's default 16 colours, then the 6x6x6 cube and the grey ramp.
const BASE16 = ['#000000', '#cd0000', '#00cd00', '#cdcd00', '#0000ee', '#cd00cd', '#00cdcd', '#e5e5e5',
  '#7f7f7f', '#ff0000', '#00ff00', '#ffff00', '#5c5cff', '#ff00ff', '#00ffff', '#ffffff'];
function paletteColor(i) {
  if (i < 16) return BASE16[i];
  if (i < 232) {
    const n = i - 16;
    const v = (c) => (c === 0 ? 0 : 55 + c * 40);
    return `rgb(${v(Math.floor(n / 36))},${v(Math.floor(n / 6) % 6)},${v(n % 6)})`;
  }
  const g = 8 + (i - 232) * 10;
  return `rgb(${g},${g},${g})`;
}
const DEFAULT_FG = '#d0d0d0';
const DEFAULT_BG = '#101010';

function color(cell, which) {
  const fg = which === 'fg';
  if (fg ? cell.isFgDefault() : cell.isBgDefault()) return fg ? DEFAULT_FG : DEFAULT_BG;
  const value = fg ? cell.getFgColor() : cell.getBgColor();
  if (fg ? cell.isFgRGB() : cell.isBgRGB()) return `#${value.toString(16).padStart(6, '0')}`;
  return paletteColor(value);
}

const escapeHtml = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The screen as HTML: one span per run of cells with the same look. */
function screenHtml(term, caption) {
  const buf = term.buffer.active;
  const cell = buf.getNullCell();
  const rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buf.getLine(y);
    let html = '';
    let run = '';
    let style = '';
    for (let x = 0; x < term.cols; x++) {
      line.getCell(x, cell);
      if (cell.getWidth() === 0) continue;
      let fg = color(cell, 'fg');
      let bg = color(cell, 'bg');
      if (cell.isInverse()) [fg, bg] = [bg === DEFAULT_BG ? '#101010' : bg, fg];
      if (cell.isInverse() && fg === '#101010') fg = DEFAULT_BG;
      const s = `color:${fg};background:${bg};${cell.isBold() ? 'font-weight:bold;' : ''}`;
      if (s !== style) {
        if (run) html += `<span style="${style}">${escapeHtml(run)}</span>`;
        run = '';
        style = s;
      }
      run += cell.getChars() || ' ';
    }
    if (run) html += `<span style="${style}">${escapeHtml(run)}</span>`;
    rows.push(html);
  }
  return `<!doctype html><meta charset="utf-8"><style>
body{margin:0;background:#2b2b2b;font-family:'DejaVu Sans Mono',monospace;}
.frame{display:inline-block;margin:14px;padding:10px;background:${DEFAULT_BG};border-radius:6px;}
pre{margin:0;font-size:14px;line-height:17px;font-family:inherit;}
.caption{color:#bbb;font:13px 'DejaVu Sans',sans-serif;margin:0 14px 10px;}
</style><div class="frame"><pre>${rows.join('\n')}</pre></div><div class="caption">${escapeHtml(caption)}</div>`;
}

function photograph(html, file) {
  const page = join(workDir, `${file}.html`);
  writeFileSync(page, html);
  const out = join(OUT, file);
  const chromium = spawnSync('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
    `--screenshot=${out}`, `--window-size=${COLS * 9 + 40},${ROWS * 17 + 70}`, pathToFileURL(page).href], { encoding: 'utf8' });
  if (chromium.error || chromium.status !== 0) throw new Error(`chromium failed (apt-get install chromium): ${chromium.error?.message ?? chromium.stderr}`);
  process.stdout.write(`wrote ${out}\n`);
}

const workDir = mkdtempSync(join(tmpdir(), 'sd-screens-'));
chmodSync(workDir, 0o755);
const children = [];
const buses = [];
let tui = null;
try {
  mkdirSync(OUT, { recursive: true });
  const user = userInfo().username;
  writeFileSync(join(workDir, 'policy.conf'), renderPolicy({ companionUser: user, desktopUser: user }));
  writeFileSync(join(workDir, 'bus.conf'), renderTestBusConfig({ socketPath: join(workDir, 'bus.sock'), includeFiles: [join(workDir, 'policy.conf')] }));
  const busd = spawn('dbus-daemon', [`--config-file=${join(workDir, 'bus.conf')}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(busd);
  const address = await new Promise((r) => busd.stdout.once('data', (d) => r(d.toString().split('\n')[0].trim())));
  process.env.DBUS_SYSTEM_BUS_ADDRESS = address;
  const stateDir = join(workDir, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  writeFileSync(join(workDir, 'config.json'), JSON.stringify({ desktopUser: user, companionUser: user, stateDir, store: { argon2MemoryKiB: 1024, argon2Iterations: 1 } }));
  const cli = join(ROOT, 'bin', 'secrets-dispatcher');
  children.push(spawn(process.execPath, ['--', cli, 'daemon', '--config', join(workDir, 'config.json')], { stdio: 'ignore' }));

  const requester = await connectBus('system');
  const human = await connectBus('system');
  buses.push(requester, human);
  for (let i = 0; i < 400 && !(await nameHasOwner(requester, DISPATCHER_BUS_NAME)); i++) await sleep(25);
  const call = (bus, iface, member, signature = '', body = [], timeoutMs = 120_000) =>
    callMethod(bus, { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: iface, member, signature, body, timeoutMs });
  await call(human, CONSOLE_INTERFACE, 'CreateStore', 'ay', [Buffer.from('screenshot passphrase')]);

  const term = new xterm.Terminal({ cols: COLS, rows: ROWS, allowProposedApi: true });
  tui = pty.spawn(process.execPath, ['--', cli, 'tui'], { name: 'xterm-256color', cols: COLS, rows: ROWS, cwd: ROOT, env: process.env });
  tui.onData((d) => term.write(d));
  const screenText = () => Array.from({ length: ROWS }, (_, y) => term.buffer.active.getLine(y)?.translateToString(true) ?? '').join('\n');
  const waitFor = async (re) => {
    for (let i = 0; i < 600 && !re.test(screenText()); i++) await sleep(50);
    if (!re.test(screenText())) throw new Error(`the console never showed ${re}:\n${screenText()}`);
    await sleep(300);
  };
  await waitFor(/store unlocked \| 0 pending/);
  const pendingIds = async () => JSON.parse((await call(human, CONSOLE_INTERFACE, 'ListPending'))[0]).requests.map((r) => r.id);

  // A secret request, with an earlier decision in the recent list.
  const [itemId] = await call(requester, REQUEST_INTERFACE, 'CreateItem', 'ssa{ss}aysba{sv}',
    ['login', 'GitHub token (nb)', { service: 'github', user: 'nb', 'xdg:schema': 'org.gnome.keyring.NetworkPassword' }, Buffer.from('ghp_example'), 'text/plain', false, {}]);
  const [mailId] = await call(requester, REQUEST_INTERFACE, 'CreateItem', 'ssa{ss}aysba{sv}', ['login', 'Mail', { service: 'imap' }, Buffer.from('x'), 'text/plain', false, {}]);
  const earlier = call(requester, REQUEST_INTERFACE, 'GetSecrets', 'asa{sv}', [[mailId], {}]).catch(() => undefined);
  await waitFor(/^> SECRET /m);
  await call(human, CONSOLE_INTERFACE, 'Decide', 'ssu', [(await pendingIds())[0], 'deny', 0]);
  await earlier;
  const reading = call(requester, REQUEST_INTERFACE, 'GetSecrets', 'asa{sv}', [[itemId], {}]).catch(() => undefined);
  await waitFor(/^> SECRET .*GitHub token/m);
  photograph(screenHtml(term, 'A secret request on the approval console (scripts/screenshots.mjs, real daemon and console)'), 'console-secret.png');
  await call(human, CONSOLE_INTERFACE, 'Decide', 'ssu', [(await pendingIds())[0], 'once', 0]);
  await reading;

  // A signing request: a real key made by the daemon, a commit payload, sd-gpg-style claims.
  const generating = call(requester, REQUEST_INTERFACE, 'GenerateKey', 'sssa{sv}', ['N. B.', 'nb@example.org', '', {}]);
  await waitFor(/^> KEY /m);
  await call(human, CONSOLE_INTERFACE, 'Decide', 'ssu', [(await pendingIds())[0], 'once', 0]);
  const [fingerprint] = await generating;
  const tree = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
  const payload = Buffer.from(`tree ${tree}\nparent 9ee8bff3c2a1d4e5f60718293a4b5c6d7e8f9012\n` +
    'author N. B. <nb@example.org> 1764000000 +0000\ncommitter N. B. <nb@example.org> 1764000000 +0000\n\n' +
    'Console: hold VT_PROCESS while a request is on screen\n\nThe guard time restarts when the human comes back to VT8, so keys\ntyped while switching cannot decide anything.\n');
  const context = toVariantMap({
    repository: '/home/nb/src/secrets-dispatcher', branch: 'main', filesTree: tree,
    files: JSON.stringify([[42, 3, 'tui/vt.ts'], [18, 2, 'tui/app.ts'], [60, 0, 'test/integration/tui-vt.test.ts']]),
  });
  const signing = call(requester, REQUEST_INTERFACE, 'Sign', 'aysa{sv}', [payload, fingerprint, context]).catch(() => undefined);
  await waitFor(/^> SIGN /m);
  photograph(screenHtml(term, 'A signing request on the approval console (scripts/screenshots.mjs, real daemon and console)'), 'console-sign.png');
  await call(human, CONSOLE_INTERFACE, 'Decide', 'ssu', [(await pendingIds())[0], 'deny', 0]);
  await signing;
} finally {
  tui?.kill('SIGTERM');
  for (const b of buses) disconnectBus(b);
  await (await dist('bench/measure.js')).stopChildren(children);
  rmSync(workDir, { recursive: true, force: true });
}
