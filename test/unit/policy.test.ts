import { describe, expect, it } from 'vitest';
import { renderPolicy } from '../../dbus-policy/render.js';

describe('renderPolicy', () => {
  it('lets only the companion own the name and only the companion call the console interface', () => {
    const xml = renderPolicy({ companionUser: 'secrets-nb', desktopUser: 'nb' });
    const companion = xml.slice(xml.indexOf('<policy user="secrets-nb">'));
    const desktop = xml.slice(xml.indexOf('<policy user="nb">'), xml.indexOf('<policy user="secrets-nb">'));
    expect(companion).toContain('<allow own="net.mowaka.SecretsDispatcher1"/>');
    expect(desktop).not.toContain('own=');
    expect(desktop).not.toContain('net.mowaka.SecretsDispatcher1.Console');
    expect(companion).toContain('send_interface="net.mowaka.SecretsDispatcher1.Console"');
    expect(xml).toMatch(/<policy context="default">\s*<deny own="net.mowaka.SecretsDispatcher1"\/>\s*<deny send_destination="net.mowaka.SecretsDispatcher1"\/>/);
  });

  it('refuses names that could inject XML', () => {
    expect(() => renderPolicy({ companionUser: 'a"/><allow own="*', desktopUser: 'nb' })).toThrow(/companionUser/);
  });
});
