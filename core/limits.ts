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
  bundleBytes: 512 * 1024 * 1024,
  /** Entries of an export or import listed on the console (the counts cover all). */
  bundleEntriesShown: 200,
  /** Argon2 memory a bundle may ask for before anyone approved its import (a hostile file could ask for a GiB). */
  bundleKdfKiBBeforeApproval: 256 * 1024,
} as const;
