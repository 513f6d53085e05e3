// The virtual-console ioctls Node lacks, through koffi → libc ioctl (DESIGN §8), and the console's
// policy for them.
//
// While a request is on screen the console holds its VT in VT_PROCESS mode: the kernel then asks us
// (relsig) before switching away and tells us (acqsig) when the human comes back. We allow the
// switch and the request stays pending: refusing would trap the human on VT8 when they may need the
// desktop to judge the request (which commit is this?), and a console that cannot be left looks
// like a hung machine. What VT_PROCESS buys is knowing when the human returns: the guard time
// restarts then, so keys typed while switching back cannot decide anything.
//
// Found by experiment (kernel 6.18, verified by test/integration/tui-vt.test.ts): after the holder
// dies without restoring (kill -9), VT_GETMODE keeps reporting VT_PROCESS; the kernel resets the VT
// to VT_AUTO only when a switch away from it is next attempted (its relsig cannot be delivered), and
// that switch then proceeds. So nothing is stuck, but the mode is stale until then: the console unit
// must reset it after the process ends (TTYReset=yes, which sets VT_AUTO, or
// ExecStopPost=secrets-dispatcher tui --reset-vt --tty /dev/ttyN), and the console resets it itself
// when it starts.
import { closeSync, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import koffi from 'koffi';

export const VT_GETMODE = 0x5601;
export const VT_SETMODE = 0x5602;
export const VT_GETSTATE = 0x5603;
export const VT_RELDISP = 0x5605;
export const VT_ACTIVATE = 0x5606;
export const VT_WAITACTIVE = 0x5607;
export const TIOCSTI = 0x5412;
export const VT_AUTO = 0;
export const VT_PROCESS = 1;
export const VT_ACKACQ = 2;

// SIGUSR1 is Node's debugger signal; these two are otherwise unused by Node.
export const RELEASE_SIGNAL = 'SIGUSR2';
export const ACQUIRE_SIGNAL = 'SIGPWR';

type IoctlFn = (fd: number, request: number, ...args: unknown[]) => number;
let ioctlFn: IoctlFn | null = null;

function ioctl(fd: number, request: number, type: string, arg: unknown): void {
  if (!ioctlFn) ioctlFn = koffi.load('libc.so.6').func('int ioctl(int fd, unsigned long request, ...)') as unknown as IoctlFn;
  const rc = ioctlFn(fd, request, type, arg);
  if (rc !== 0) {
    const errno = koffi.errno();
    throw new Error(`ioctl 0x${request.toString(16)} failed (errno ${errno}${errno === 25 ? ': not a virtual console' : errno === 1 ? ': not permitted' : ''})`);
  }
}

export interface VtMode { mode: number; relsig: number; acqsig: number }

export function getMode(fd: number): VtMode {
  const buf = Buffer.alloc(8);
  ioctl(fd, VT_GETMODE, 'void *', buf);
  return { mode: buf.readInt8(0), relsig: buf.readInt16LE(2), acqsig: buf.readInt16LE(4) };
}

export function setMode(fd: number, mode: number, relsig = 0, acqsig = 0): void {
  const buf = Buffer.alloc(8);
  buf.writeInt8(mode, 0);
  buf.writeInt16LE(relsig, 2);
  buf.writeInt16LE(acqsig, 4);
  ioctl(fd, VT_SETMODE, 'void *', buf);
}

/** The active VT number (VT_GETSTATE on any VT fd). */
export function activeVt(fd: number): number {
  const buf = Buffer.alloc(6);
  ioctl(fd, VT_GETSTATE, 'void *', buf);
  return buf.readUInt16LE(0);
}

export function releaseDisplay(fd: number, arg: number): void {
  ioctl(fd, VT_RELDISP, 'int', arg);
}

export function activate(fd: number, vt: number): void {
  ioctl(fd, VT_ACTIVATE, 'int', vt);
}

/** Push bytes into a terminal's input queue as if typed (tests; needs CAP_SYS_ADMIN on new kernels). */
export function injectInput(fd: number, text: string): void {
  for (const byte of Buffer.from(text, 'utf8')) ioctl(fd, TIOCSTI, 'char *', Buffer.from([byte]));
}

/** /dev/tty8 → 8; null for anything that is not a VT device path. */
export function vtNumberOf(path: string): number | null {
  const m = /^\/dev\/tty([1-9][0-9]?)$/.exec(path);
  return m ? Number(m[1]) : null;
}

/** Open the VT and set VT_AUTO (what the unit's ExecStopPost or a restarted console runs). */
export function resetVt(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    setMode(fd, VT_AUTO);
  } finally {
    closeSync(fd);
  }
}

export interface VtHolderOptions {
  /** Switch to the console VT when a request arrives and back afterwards. */
  switchToVt: boolean;
  /** The human came back to the console VT. */
  onAcquire(): void;
  /** The human switched away (allowed; requests stay pending). */
  onRelease(): void;
}

/** The console's hold on its VT: VT_PROCESS while requests are on screen, VT_AUTO otherwise. */
export class VtHolder {
  private readonly fd: number;
  private holding = false;
  private previousVt: number | null = null;
  private readonly onRelSig = () => this.released();
  private readonly onAcqSig = () => this.acquired();

  constructor(readonly path: string, private readonly vt: number, private readonly options: VtHolderOptions) {
    this.fd = openSync(path, 'r+');
    // A predecessor killed with -9 may have left VT_PROCESS behind.
    setMode(this.fd, VT_AUTO);
    process.on(RELEASE_SIGNAL, this.onRelSig);
    process.on(ACQUIRE_SIGNAL, this.onAcqSig);
  }

  /** Requests are on screen (true) or none are (false). */
  setRequestsShown(shown: boolean): void {
    if (shown && !this.holding) {
      setMode(this.fd, VT_PROCESS, osConstants.signals[RELEASE_SIGNAL], osConstants.signals[ACQUIRE_SIGNAL]);
      this.holding = true;
      if (this.options.switchToVt) {
        const active = activeVt(this.fd);
        if (active !== this.vt) {
          this.previousVt = active;
          activate(this.fd, this.vt);
        }
      }
    } else if (!shown && this.holding) {
      setMode(this.fd, VT_AUTO);
      this.holding = false;
      if (this.options.switchToVt && this.previousVt !== null) {
        const back = this.previousVt;
        this.previousVt = null;
        if (activeVt(this.fd) === this.vt) activate(this.fd, back);
      }
    }
  }

  private released(): void {
    try {
      releaseDisplay(this.fd, 1);
    } catch {
      // The switch was already settled (e.g. mode reset meanwhile).
    }
    this.previousVt = null;
    this.options.onRelease();
  }

  private acquired(): void {
    try {
      releaseDisplay(this.fd, VT_ACKACQ);
    } catch {
      // Not in VT_PROCESS any more: nothing to acknowledge.
    }
    this.options.onAcquire();
  }

  /** Back to VT_AUTO; safe to call more than once (exit, SIGTERM, SIGINT). */
  restore(): void {
    process.removeListener(RELEASE_SIGNAL, this.onRelSig);
    process.removeListener(ACQUIRE_SIGNAL, this.onAcqSig);
    try {
      setMode(this.fd, VT_AUTO);
    } catch {
      // Closed already.
    }
    this.holding = false;
  }

  close(): void {
    this.restore();
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
