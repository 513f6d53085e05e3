import { describe, expect, it } from 'vitest';
import { displayWidth, isInert } from '../../core/untrusted-text.js';
import type { DaemonStatus } from '../../core/wire.js';
import { handleKey } from '../../tui/keys.js';
import { applyPending, applyStatus, initialState, markDecided, type ConsoleState } from '../../tui/state.js';
import { FULL_DETAIL_MAX_LINES, lineText, renderView, type View } from '../../tui/view-model.js';
import { arrive, listed, NOW, secretRequest, signRequest } from './tui-fixtures.js';

const STATUS: DaemonStatus = { initialized: true, locked: false, pending: 1, consoleConnected: true, version: '0.1.0', requestTimeoutSeconds: 300, throttled: null };
const SIZE = { width: 100, height: 40 };

function stateWith(...requests: ReturnType<typeof secretRequest>[]): ConsoleState {
  return arrive(applyStatus(initialState(300), STATUS), requests, NOW);
}

function text(view: View): string[] {
  return view.lines.map(lineText);
}

function find(view: View, needle: string): string | undefined {
  return text(view).find((l) => l.includes(needle));
}

describe('renderView list and detail pane', () => {
  it('fills exactly the screen, no line wider than it', () => {
    for (const size of [SIZE, { width: 40, height: 12 }, { width: 200, height: 60 }]) {
      const view = renderView(stateWith(secretRequest(), signRequest()), size, NOW);
      expect(view.lines).toHaveLength(size.height);
      for (const line of text(view)) expect(displayWidth(line)).toBe(size.width);
    }
  });

  it('says on the title line that a flood from a UID is being refused, within the width', () => {
    const throttled = { ...STATUS, throttled: { uid: 1000, refused: 9800, since: NOW - 30_000 } };
    for (const size of [SIZE, { width: 40, height: 12 }]) {
      const view = renderView(arrive(applyStatus(initialState(300), throttled), [secretRequest()], NOW), size, NOW);
      for (const line of text(view)) expect(displayWidth(line)).toBe(size.width);
      expect(text(view)[1]).toContain(size.width >= 100 ? 'uid 1000: 9800 requests refused since' : 'uid 1000: 9800 requests');
    }
    const one = { ...STATUS, throttled: { uid: 1000, refused: 1, since: NOW - 30_000 } };
    expect(text(renderView(arrive(applyStatus(initialState(300), one), [secretRequest()], NOW), { width: 120, height: 30 }, NOW))[1]).toContain('uid 1000: 1 request refused since');
    expect(text(renderView(stateWith(secretRequest()), SIZE, NOW))[0]).not.toContain('refused');
  });

  it('lists a secret request with badge, countdown, verified requester (uid, exe) and summary', () => {
    const view = renderView(stateWith(secretRequest()), SIZE, NOW);
    const row = find(view, 'SECRET')!;
    expect(row).toContain('4:59');
    expect(row).toContain('uid 1000 /usr/bin/python3.11[4242]');
    expect(row).toContain('Read the secret "GitHub token"');
  });

  it('shows the item, its attributes and collection, and the verified requester facts', () => {
    const lines = text(renderView(stateWith(secretRequest()), SIZE, NOW)).join('\n');
    for (const expected of ['GitHub token', 'service = github', 'user = nb', 'Login', 'uid 1000 (nb)', 'pid 4242', '/usr/bin/python3.11',
      'python3 -c import keyring', '/home/nb/src', 'app-gnome-terminal.scope', '/usr/bin/bash[4200] < /usr/libexec/gnome-terminal-server[4100]']) {
      expect(lines).toContain(expected);
    }
  });

  it('says exactly what "a" remembers and for how long, or that it cannot', () => {
    expect(find(renderView(stateWith(secretRequest()), SIZE, NOW), 'a remembers')).toContain('python3.11 (uid 1000) reading "GitHub token" for 10 min');
    expect(find(renderView(stateWith(signRequest()), SIZE, NOW), 'a remembers')).toContain('can only be allowed once or denied');
    const said = secretRequest({ rememberScope: { description: 'python3 may read "GitHub token" for 10 minutes', minutes: 10 } });
    expect(find(renderView(stateWith(said), SIZE, NOW), 'a remembers')!.trimEnd()).toMatch(/for 10 minutes$/);
  });

  it('marks what a client claims as claimed', () => {
    const view = renderView(stateWith(signRequest()), SIZE, NOW);
    expect(find(view, 'Repository')).toMatch(/\/home\/nb\/src\/secrets-dispatcher \(claimed\)/);
    expect(find(view, 'Branch')).toContain('main (claimed)');
    // The signing client's repository is shown once, with the payload, not again among the claims.
    expect(find(view, 'claims')).toBeUndefined();
    const r = secretRequest();
    r.requester.claimed = { 'session caller': 'firefox (pid 777)' };
    expect(find(renderView(stateWith(r), SIZE, NOW), 'claims')).toContain('session caller: firefox (pid 777) (claimed)');
    expect(find(view, 'Files')).toContain('(claimed)');
  });

  it('renders a signing request from the payload: key, author, committer, parent, message, files', () => {
    const lines = text(renderView(stateWith(signRequest()), SIZE, NOW)).join('\n');
    for (const expected of ['SIGN', '0123456789ABCDEF0123456789ABCDEF01234567 ed25519', 'Author', 'N. B. <nb@example.org> 2025-11-24 16:00:00 +0000 (1764000000)',
      'Committer', 'Parent      9ee8bff', 'Fix the frobnicator', 'It frobbed twice.', '+120 -4', 'tui/screen.ts', '+12 -0', 'docs/BENCHMARKS.md']) {
      expect(lines).toContain(expected);
    }
  });

  it('shows a commit time as the date and time in its own zone, keeping the raw value', () => {
    const r = signRequest();
    r.sign!.headers = [
      ['author', 'N. B. <nb@example.org> 1796317199 +0000'],
      ['committer', 'N. B. <nb@example.org> 1796317199 -0530'],
      ['tagger', 'N. B. <nb@example.org> 1796317199 +0100'],
    ];
    const lines = text(renderView(stateWith(r), SIZE, NOW));
    expect(lines.find((l) => l.includes('Author'))).toContain('N. B. <nb@example.org> 2026-12-03 16:59:59 +0000 (1796317199)');
    expect(lines.join('\n')).toContain('N. B. <nb@example.org> 2026-12-03 11:29:59 -0530 (1796317199)');
    expect(lines.join('\n')).toContain('N. B. <nb@example.org> 2026-12-03 17:59:59 +0100 (1796317199)');
  });

  it('leaves a header that is not "identity epoch zone" as it came (forged or odd values are not reformatted)', () => {
    const r = signRequest();
    r.sign!.headers = [
      ['author', 'N. B. <nb@example.org> 99999999999999999999 +0000'],
      ['committer', 'N. B. <nb@example.org> 1796317199 +9999'],
      ['tagger', 'N. B. <nb@example.org> 1796317199'],
    ];
    const joined = text(renderView(stateWith(r), SIZE, NOW)).join('\n');
    expect(joined).toContain('N. B. <nb@example.org> 99999999999999999999 +0000');
    expect(joined).toContain('N. B. <nb@example.org> 1796317199 +9999');
    expect(joined).toMatch(/N\. B\. <nb@example\.org> 1796317199 +$/m);
  });

  it('puts contradictions between claims and payload first', () => {
    const r = signRequest();
    r.sign!.contradictions = ['client says branch main, payload has no such ref'];
    const view = text(renderView(stateWith(r), SIZE, NOW));
    const mismatch = view.findIndex((l) => l.includes('MISMATCH'));
    expect(mismatch).toBeGreaterThan(0);
    expect(mismatch).toBeLessThan(view.findIndex((l) => l.includes('Repository')));
  });

  it('shows recent decisions with their outcome', () => {
    const s = markDecided(stateWith(secretRequest(), signRequest()), 'r1', 'deny', NOW);
    const row = text(renderView(s, SIZE, NOW)).find((l) => /^\s+\d\d:\d\d:\d\d denied/.test(l))!;
    expect(row).toContain('SECRET');
    expect(renderView(s, SIZE, NOW).lines.find((l) => /^\s+\d\d:\d\d:\d\d denied/.test(lineText(l)))!.every((seg) => seg.style === 'dim' || seg.text.trim() === '')).toBe(true);
  });

  it('keeps the focused request in view with 1,000 pending and says which part is shown', () => {
    const many = Array.from({ length: 1000 }, (_, i) => secretRequest({ id: `r${i}`, summary: `request number ${i}` }));
    const s = { ...stateWith(...many), focusedId: 'r700' };
    const view = renderView(s, SIZE, NOW);
    expect(find(view, 'Pending (1000)')).toMatch(/showing \d+-\d+/);
    expect(find(view, '> SECRET')).toContain('request number 700');
  });

  it('has a status line with the store state, pending count and the keys', () => {
    const view = text(renderView(stateWith(secretRequest()), SIZE, NOW));
    expect(view[0]).toContain('store unlocked | 1 pending');
    expect(view.slice(-2).join('\n')).toMatch(/^y allow once/m);
    const locked = text(renderView(applyStatus(initialState(300), { ...STATUS, locked: true }), SIZE, NOW));
    expect(locked[0]).toContain('store LOCKED');
    expect(locked.join('\n')).toContain('The store is locked. Passphrase:');
  });

  it('lists p for the passphrase with the other keys, in the footer and in help', () => {
    const view = text(renderView(stateWith(), { width: 120, height: 40 }, NOW));
    expect(view[view.length - 1]).toContain('l lock  p passphrase');
    const help = text(renderView({ ...stateWith(), mode: 'help' }, SIZE, NOW)).join('\n');
    expect(help).toMatch(/^ +p +change the store's passphrase/m);
    expect(help).toMatch(/^ +Ctrl\+R +at the unlock prompt/m);
  });

  it('wraps the keys between keys on a text-mode 80-column console, so none is cut', () => {
    const keys = ['y allow once', 'a allow+remember', 'n deny', 'j/k move', 'Enter detail', '? help', 'h history', 'r remembered', 'l lock', 'p passphrase'];
    const view = text(renderView(stateWith(secretRequest()), { width: 80, height: 25 }, NOW));
    expect(view).toHaveLength(25);
    const footer = view.slice(-2).map((l) => l.trimEnd());
    expect(footer[0]).toMatch(/^y allow once/);
    for (const key of keys) expect(footer.some((l) => l.includes(key)), key).toBe(true);
    // Wider screens keep one line.
    const wide = text(renderView(stateWith(secretRequest()), { width: 120, height: 40 }, NOW));
    expect(wide[wide.length - 1]).toMatch(/^y allow once.*p passphrase/);
    expect(wide[wide.length - 2]).not.toMatch(/allow/);
  });

  it('says when the daemon is gone', () => {
    const view = text(renderView({ ...stateWith(secretRequest()), connection: 'lost' }, SIZE, NOW));
    expect(view[0]).toContain('DAEMON NOT REACHABLE');
  });
});

describe('renderView full detail', () => {
  it('scrolls through a 500-line message to its last line', () => {
    const body = Array.from({ length: 500 }, (_, i) => `message line ${i + 1}`).join('\n');
    const s: ConsoleState = { ...stateWith(signRequest({}, `Subject\n\n${body}`)), mode: 'detail' };
    const first = renderView(s, SIZE, NOW);
    expect(first.maxScroll).toBeGreaterThan(450);
    expect(find(first, 'message line 500')).toBeUndefined();
    const last = renderView({ ...s, scroll: first.maxScroll }, SIZE, NOW);
    expect(find(last, 'message line 500')).toBeDefined();
    expect(find(last, 'Full detail')).toMatch(/of \d+/);
  });
});

describe('renderView with hostile requester text', () => {
  const hostile = 'pwn\x1b[2J\x1b]0;title\x07 safe\rEVIL ab\b\b\u202Etxt.exe';
  const tenThousand = Array.from({ length: 10_000 }, (_, i) => `spam ${i}`).join('\n');

  it('keeps every line inert and the layout intact', () => {
    const r = signRequest({ summary: hostile }, `${hostile}\n${tenThousand}`);
    r.items = [{ itemId: 'x', collectionId: 'c', collectionLabel: hostile, label: hostile, attributes: { [hostile]: hostile } }];
    r.requester.claimed = { [hostile]: hostile };
    for (const mode of ['list', 'detail'] as const) {
      const view = renderView({ ...stateWith(r), mode }, SIZE, NOW);
      expect(view.lines).toHaveLength(SIZE.height);
      for (const line of text(view)) {
        expect(isInert(line)).toBe(true);
        expect(displayWidth(line)).toBe(SIZE.width);
      }
      expect(find(view, 'pwn\\x1b[2J\\x1b]0;title\\x07 safe\\rEVIL ab\\b\\b<U+202E>txt.exe')).toBeDefined();
    }
  });

  it('shows a reason as the requester\'s unchecked words, inert and wrapped, in list and full detail', () => {
    const reason = `${hostile} ${'why '.repeat(70)}`.slice(0, 300);
    const r = secretRequest({ reason });
    for (const mode of ['list', 'detail'] as const) {
      const view = renderView({ ...stateWith(r), mode }, SIZE, NOW);
      const lines = text(view);
      for (const line of lines) {
        expect(isInert(line)).toBe(true);
        expect(displayWidth(line)).toBe(SIZE.width);
      }
      const at = lines.findIndex((l) => l.includes("Reason      (the requester's words, unchecked)"));
      expect(at).toBeGreaterThan(0);
      expect(lines[at + 1]).toContain('pwn\\x1b[2J\\x1b]0;title\\x07 safe\\rEVIL ab\\b\\b<U+202E>txt.exe');
      const after = lines.slice(at + 1);
      const end = after.findIndex((l) => !l.startsWith(' '.repeat(12)));
      const shownReason = after.slice(0, end).map((l) => l.slice(12).trimEnd()).join('');
      if (mode === 'detail') expect(shownReason).toContain(reason.slice(-40).trimEnd());
      else expect(shownReason.endsWith('…')).toBe(true);
    }
    const none = text(renderView({ ...stateWith(secretRequest()), mode: 'detail' }, SIZE, NOW));
    expect(none.some((l) => l.includes('Reason'))).toBe(false);
  });

  it('truncates the 10,000-line body with a visible count in full detail', () => {
    const s: ConsoleState = { ...stateWith(signRequest({}, tenThousand)), mode: 'detail' };
    const first = renderView(s, SIZE, NOW);
    const end = renderView({ ...s, scroll: first.maxScroll }, SIZE, NOW);
    expect(find(end, 'more lines not shown')).toContain(`[… ${10_000 - FULL_DETAIL_MAX_LINES} more lines not shown]`);
  });
});

describe('renderView passphrase prompts', () => {
  const type = (state: ConsoleState, keys: string[]) => keys.reduce((s, k) => handleKey(s, k, NOW, { pageLines: 10, maxScroll: 0 }).state, state);
  const locked = () => applyStatus(initialState(300), { ...STATUS, locked: true });

  it('the unlock prompt offers the reset with the recovery code', () => {
    const view = text(renderView(locked(), SIZE, NOW)).join('\n');
    expect(view).toContain('Forgot it? Ctrl+R: reset with the recovery code.');
  });

  it('masks passphrases at every step of a change and says Esc cancels', () => {
    let s = type(stateWith(), ['p', ...'secret']);
    let view = text(renderView(s, SIZE, NOW));
    expect(view.join('\n')).toMatch(/Current passphrase: \*{6} *$/m);
    expect(view[view.length - 1]).toContain('Esc cancel');
    s = type(s, ['enter', ...'newer']);
    expect(text(renderView(s, SIZE, NOW)).join('\n')).toMatch(/Choose the new passphrase: \*{5} *$/m);
    s = type(s, ['enter', ...'new']);
    view = text(renderView(s, SIZE, NOW));
    expect(view.join('\n')).toMatch(/Type the new passphrase again: \*{3} *$/m);
    expect(view.join('\n')).not.toMatch(/secret|newer/);
  });

  it('shows the recovery code as typed (it is copied from paper), then masks the new passphrase', () => {
    let s = type(locked(), ['C-r', ...'abcd-efgh']);
    expect(text(renderView(s, SIZE, NOW)).join('\n')).toMatch(/Recovery code \(as written down\): abcd-efgh *$/m);
    s = type(s, ['enter', ...'fresh']);
    const view = text(renderView(s, SIZE, NOW)).join('\n');
    expect(view).toMatch(/Choose a new passphrase for the store: \*{5} *$/m);
    expect(view).not.toContain('abcd-efgh');
  });

  it('shows a new recovery code after a reset on the same screen as the first one, without the prompt', () => {
    const s = { ...locked(), recoveryCode: { text: 'ABCD-EFGH', reason: 'reset' as const } };
    const view = text(renderView(s, SIZE, NOW));
    const all = view.join('\n');
    expect(all).toContain('The passphrase is reset. The old recovery code no longer works');
    expect(all).toContain('Recovery code (shown only this once');
    expect(all).toMatch(/^ {4}ABCD-EFGH *$/m);
    expect(all).not.toContain('Passphrase:');
    expect(view[view.length - 1]).toContain('Enter: I have written the recovery code down');
    const created = text(renderView({ ...s, recoveryCode: { text: 'X', reason: 'created' } }, SIZE, NOW)).join('\n');
    expect(created).toContain('The store is created.');
  });
});

describe('renderView: marks a requester cannot imitate', () => {
  /** Every segment on screen whose text includes `needle`, with its style. */
  function segmentsWith(view: View, needle: string) {
    return view.lines.flat().filter((s) => s.text.includes(needle));
  }

  it('draws our cuts, omitted-lines marker and (claimed) in the marker style, the same words from a requester plain', () => {
    const fake = '[… 3 more lines not shown] (claimed) …';
    const message = `Subject ${'x'.repeat(300)}\n${fake}\n${Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n')}\n`;
    const view = renderView(stateWith(signRequest({}, message)), SIZE, NOW);
    const theirs = segmentsWith(view, fake);
    expect(theirs).toHaveLength(1);
    expect(theirs[0]!.style).toBe('normal');
    const ours = segmentsWith(view, 'more lines not shown').filter((s) => !s.text.includes(fake));
    expect(ours).toEqual([{ text: '[… 16 more lines not shown]', style: 'marker' }]);
    expect(segmentsWith(view, '(claimed)').filter((s) => s.style === 'marker').length).toBeGreaterThan(0);
    // The 300-character subject is cut; the cut is a segment of its own, ours.
    const subject = view.lines.find((l) => l.some((s) => s.text.startsWith('Subject x')))!;
    const cut = subject[subject.findIndex((s) => s.text.startsWith('Subject x')) + 1];
    expect(cut).toEqual({ text: '…', style: 'marker' });
  });

  it('counts what the daemon left out, with its own marker', () => {
    const r = { ...secretRequest(), omitted: { 'items.0.attributes': 240, 'requester.claimed': 32 } };
    const s = { ...stateWith(secretRequest()), detail: r, mode: 'detail' as const };
    const all = text(renderView(s, { width: 100, height: 60 }, NOW));
    expect(all.some((l) => l.includes('[… 240 more attributes not shown]'))).toBe(true);
    expect(all.some((l) => l.includes('[… 32 more claims not shown]'))).toBe(true);
  });

  it('says how many more wait beyond the listed rows', () => {
    const s = { ...stateWith(secretRequest()), waitingBeyond: 4321 };
    const view = renderView(s, SIZE, NOW);
    expect(find(view, 'Pending (4322)')).toBeDefined();
    expect(segmentsWith(view, '4321 more waiting')[0]?.style).toBe('marker');
    expect(find(view, 'store unlocked | 4322 pending')).toBeDefined();
  });

  it('keeps an emoji label, blank-looking characters and CJK inside their fields at every width', () => {
    const r = secretRequest({ items: [{ itemId: 'i1', collectionId: 'login', collectionLabel: 'Login', label: 'emoji only 🔑🔐 here\u3164', attributes: { '東京🔑': '🔐'.repeat(80) } }] });
    for (const width of [40, 79, 80, 81, 100, 157]) {
      const view = renderView(stateWith(r), { width, height: 40 }, NOW);
      for (const line of text(view)) expect(displayWidth(line)).toBe(width);
    }
    expect(find(renderView(stateWith(r), SIZE, NOW), 'Item        emoji only 🔑🔐 here<U+3164>')).toBeDefined();
  });
});

describe('renderView: who is asking', () => {
  it('leads a row with the uid and the verified executable, never the name a process gives itself', () => {
    const spoof = secretRequest();
    spoof.requester.process = { ...spoof.requester.process!, comm: 'git-credential' };
    const view = renderView(stateWith(spoof), SIZE, NOW);
    expect(find(view, '> SECRET')).toMatch(/^> SECRET +4:59 +uid 1000 \/usr\/bin\/python3\.11\[4242\]/);
    expect(text(view).join('\n')).not.toContain('git-credential');
  });

  it('agent traffic: via the Secret Service agent, then the program the agent reports, marked as reported', () => {
    const viaAgent = secretRequest();
    viaAgent.requester.process = { ...viaAgent.requester.process!, exe: '/usr/bin/node', comm: 'node' };
    viaAgent.requester.claimed = { via: 'secret-service-agent', 'requester.exe': '/usr/bin/secret-tool', 'requester.pid': '77' };
    const view = renderView(stateWith(viaAgent), SIZE, NOW);
    expect(find(view, '> SECRET')).toContain('uid 1000 via the Secret Service agent: /usr/bin/secret-tool (reported)');
    expect(view.lines.flat().find((s) => s.text === ' (reported)')?.style).toBe('marker');
    expect(view.lines.flat().find((s) => s.text === '/usr/bin/secret-tool')?.style).toBe('claimed');
  });

  it('a request gone from focus is said in place of its detail', () => {
    const s = arrive(applyStatus(initialState(300), STATUS), [secretRequest({ id: 'a' }), secretRequest({ id: 'b', summary: 'the other one' })], NOW);
    const gone = applyPending(s, listed(secretRequest({ id: 'b', summary: 'the other one' })), NOW + 1000);
    const view = text(renderView(gone, SIZE, NOW + 1000));
    expect(view.some((l) => l.startsWith('That request is gone'))).toBe(true);
    expect(view.some((l) => l.includes('Decision keys do nothing until you pick a request'))).toBe(true);
    expect(view.some((l) => l.startsWith('>'))).toBe(false);
  });
});

describe('the remembered decisions screen', () => {
  it('names who a grant covers in the words of its remember line', () => {
    const grant = { id: 'm1', scope: 'program' as const, verdict: 'allow' as const, persisted: false, kind: 'secret' as const, uid: 1000, exe: '/usr/bin/node', holder: 'connections opened by pid 77 (/usr/bin/node) that report the program /usr/bin/secret-tool', target: 'i1', targetLabel: "'GitHub token'", createdAt: NOW, expiresAt: NOW + 60_000 };
    const state = { ...applyStatus(initialState(300), STATUS), mode: 'remembered' as const, remembered: [grant], rememberedIndex: 0 };
    const screen = text(renderView(state, { width: 200, height: 20 }, NOW)).join('\n');
    expect(screen).toContain('connections opened by pid 77 (/usr/bin/node) that report the program /usr/bin/secret-tool');
    expect(screen).toContain("'GitHub token'");
  });
});
