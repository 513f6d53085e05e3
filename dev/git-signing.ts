// The sandbox's signing settings: a shell that sources the env file signs `git commit -S` through
// sd-gpg and this sandbox's daemon, without touching the user's git config (GIT_CONFIG_COUNT/KEY/VALUE
// add one config entry for every git started from that shell, git >= 2.31).
import { join } from 'node:path';
import type { Component, Running } from './components.js';

export const gitSigning: Component = {
  name: 'git signing',
  async start(ctx) {
    const sdGpg = join(ctx.root, 'bin', 'sd-gpg');
    ctx.env.SD_GPG = sdGpg;
    ctx.env.GIT_CONFIG_COUNT = '1';
    ctx.env.GIT_CONFIG_KEY_0 = 'gpg.program';
    ctx.env.GIT_CONFIG_VALUE_0 = sdGpg;
    ctx.say(`git signing: shells that source the env file use ${sdGpg} as gpg.program; add a key with \`secrets-dispatcher gpg generate --name NAME --email EMAIL\``);
    const running: Running = { name: this.name, pid: null, exited: new Promise(() => undefined), stop: async () => undefined };
    return running;
  },
};
