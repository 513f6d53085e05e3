// "1 item", "2 items": a count with its noun, for every message a person reads.
/** `n` and the noun in the number that fits it; `many` for nouns whose plural is not noun + s. */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
