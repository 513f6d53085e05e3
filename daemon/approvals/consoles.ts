// Registered consoles: bus names that called RegisterConsole and have not gone away. Every change
// the console should redraw for bumps the generation and is announced with a unicast Changed to
// each registered console only, so no other peer on the system bus learns that a request exists.
export type ChangedSender = (destination: string, generation: bigint) => void;

export class ConsoleRegistry {
  private readonly consoles = new Set<string>();
  private generation = 0n;

  constructor(private readonly send: ChangedSender) {}

  register(busName: string): void {
    this.consoles.add(busName);
    this.changed();
  }

  /** Returns true when the name was a console. */
  gone(busName: string): boolean {
    return this.consoles.delete(busName);
  }

  get connected(): boolean {
    return this.consoles.size > 0;
  }

  get current(): bigint {
    return this.generation;
  }

  changed(): void {
    this.generation++;
    for (const name of this.consoles) {
      try {
        this.send(name, this.generation);
      } catch {
        // A console that cannot be reached is dropped when its name goes away.
      }
    }
  }
}
