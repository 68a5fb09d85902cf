/**
 * imapflow loads with its optional packages deferred (src/mailbox/imapflow-module.ts). The
 * stand-in answers `__esModule` from a table without loading the package; if an upgrade of one of
 * them changed that, imapflow would read the package's exports wrongly, so the table is checked
 * against the packages installed here, resolved from imapflow's own files as imapflow does.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DEFERRED_DEPENDENCIES, ImapFlow } from '../../src/mailbox/imapflow-module.js';

const fromImapflow = createRequire(createRequire(import.meta.url).resolve('imapflow'));

describe('imapflow with deferred packages', () => {
  for (const [name, esModule] of DEFERRED_DEPENDENCIES) {
    it(`${name}: __esModule is ${esModule}, as the stand-in says`, () => {
      const real = fromImapflow(name) as { __esModule?: boolean };
      expect(Boolean(real.__esModule)).toBe(esModule);
    });
  }

  it('ImapFlow, loaded around the stand-ins, constructs and has its methods', () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: 1, secure: true, auth: { user: 'u', pass: 'p' }, logger: false });
    expect(typeof client.connect).toBe('function');
  });
});
