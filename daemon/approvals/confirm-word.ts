// The second step a high-tier request needs: a short word the daemon makes up per request and
// shows only on the console. Approving means typing it back (Console.DecideConfirmed), so a reflex
// `y`, a key held down, or a stray Decide call cannot release a high-tier secret. The word is no
// secret from the console user (it is on their screen); it proves a deliberate act, not identity.
import { randomInt, timingSafeEqual } from 'node:crypto';

const CONSONANTS = 'bdfgkmnprstvz';
const VOWELS = 'aeiou';

/** Wrong words before the request is denied: the word has 13·5·13·5 = 4,225 values, so guessing ends at once. */
export const CONFIRM_TRIES = 3;

/** Four letters, consonant-vowel-consonant-vowel: easy to read off the screen and type ("bako"). */
export function confirmWord(): string {
  let word = '';
  for (let i = 0; i < 4; i++) {
    const letters = i % 2 === 0 ? CONSONANTS : VOWELS;
    word += letters[randomInt(letters.length)];
  }
  return word;
}

/** Whether `typed` is the word, ignoring case and the spaces around it. */
export function wordMatches(word: string, typed: string): boolean {
  const a = Buffer.from(word, 'utf8');
  const b = Buffer.from(typed.trim().toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
