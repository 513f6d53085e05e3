// Size caps applied to anything a requester sends (DESIGN §4, split-gpg habit: cap every size).
// They are generous for real use and small enough that a hostile client cannot make the daemon
// allocate without bound.
export const LIMITS = {
  secretBytes: 2 * 1024 * 1024,
  labelChars: 4096,
  attributeCount: 256,
  attributeKeyChars: 256,
  attributeValueChars: 4096,
  contentTypeChars: 256,
  idChars: 256,
  /** Subkeys recorded per signing key (a real key has a handful). */
  subkeysPerKey: 64,
  itemsPerCall: 1024,
  contextEntries: 64,
  contextValueChars: 16 * 1024,
  signPayloadBytes: 8 * 1024 * 1024,
  passphraseBytes: 1024,
  parentChainDepth: 16,
  cmdlineChars: 4096,
  historyRows: 10_000,
  /** A request's reason (the requester's own words, shown inert on the console and kept in the audit row). */
  reasonChars: 300,
  bundleBytes: 512 * 1024 * 1024,
  /** Entries of an export or import listed on the console (the counts cover all). */
  bundleEntriesShown: 200,
  /** Argon2 memory a bundle may ask for before anyone approved its import (a hostile file could ask for a GiB). */
  bundleKdfKiBBeforeApproval: 256 * 1024,
  // What the console is sent of anything a requester chose: what a person can read on a screen,
  // and small enough that one reply stays far below the bus's message limit (32 MiB) however
  // hostile the request (JSON may spell one byte as six).
  /** Characters of any one text shown (a label, a value, a path, one line of a message). */
  shownTextChars: 512,
  /** Rows of the pending list in one reply, and its size; past either, the console says how many more wait. */
  shownListRows: 200,
  shownListBytes: 1024 * 1024,
  /** Per request detail: lines of a message, entries of each list, and the reply's size. */
  shownMessageLines: 1000,
  shownItems: 16,
  shownAttributes: 16,
  shownClaims: 32,
  shownHeaders: 32,
  shownFiles: 500,
  shownUserIds: 16,
  shownCmdlineArgs: 64,
  shownContradictions: 16,
  /** Past this, the message and file list are cut further (halved until the reply fits). */
  shownDetailBytes: 4 * 1024 * 1024,
} as const;
