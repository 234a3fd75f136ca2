import { readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';

/**
 * The CAs a TLS client of a registry trusts, beyond a registry's own (certs.d): Node's bundled
 * roots and the file NODE_EXTRA_CA_CERTS names. The daemon's process is started without that
 * variable (bin/statedock hands it over under another name, so Node does not parse the file at
 * start); it is read here, once, when the first TLS client is built, and honoured as Node
 * would have: a file that cannot be read is warned about and left out.
 */
export class ExtraCaCertificates {
  private pem: string | null = null;
  private readonly contexts = new Map<string, SecureContext>();
  private readonly env: NodeJS.ProcessEnv;
  private readonly warn: (message: string) => void;

  constructor(
    env: NodeJS.ProcessEnv = process.env,
    warn: (message: string) => void = (m) => process.emitWarning(m),
  ) {
    this.env = env;
    this.warn = warn;
  }

  /** The extra CAs' PEM text ('' when there are none), read on first use. */
  extra(): string {
    if (this.pem !== null) return this.pem;
    const path = this.env['NODE_EXTRA_CA_CERTS'] ?? '';
    this.pem = '';
    if (path === '') return this.pem;
    try {
      this.pem = readFileSync(path, 'utf8');
    } catch (err) {
      // Node's own words when it cannot load the file at start.
      this.warn(`Ignoring extra certs from \`${path}\`, load failed: ${(err as Error).message}`);
    }
    return this.pem;
  }

  /**
   * The secure context of a TLS client that trusts the defaults, the extra CAs and `ca` (a
   * registry's certs.d CAs), with a client pair if given; undefined when Node's default one
   * says the same. Built once per distinct set: parsing ~150 roots costs milliseconds, and a
   * pull opens several connections.
   */
  async contextFor(
    ca: readonly string[],
    pair?: { cert: Buffer; key: Buffer },
  ): Promise<SecureContext | undefined> {
    const extra = this.extra();
    if (extra === '' && ca.length === 0 && pair === undefined) return undefined;
    const id = JSON.stringify([ca, pair?.cert.toString('base64'), pair?.key.toString('base64')]);
    let context = this.contexts.get(id);
    if (context === undefined) {
      const { createSecureContext, rootCertificates } = await import('node:tls');
      context = createSecureContext({
        ca: [...rootCertificates, ...(extra === '' ? [] : [extra]), ...ca],
        ...(pair ?? {}),
      });
      this.contexts.set(id, context);
    }
    return context;
  }
}
