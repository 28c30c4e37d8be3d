import { createHash, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';

/** This package's name: its own package.json is not the project's (see {@link projectRoot}). */
const OWN_PACKAGE = '@dmf-functions/emulator';

function packageName(file: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const name =
      typeof parsed === 'object' && parsed !== null ? (parsed as { name?: unknown }).name : undefined;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

function projectRoot(): string {
  // The nearest folder above this module with a package.json other than the emulator's own (the
  // workspace that uses it, e.g. the repository root), so `.local/emulator/` stays where the
  // project's scripts, docs and local.settings.sample.json expect it.
  // Alone (no such folder), the emulator's own folder.
  const here = dirname(fileURLToPath(import.meta.url));
  let own: string | undefined;
  let dir = here;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      if (packageName(manifest) !== OWN_PACKAGE) return dir;
      own ??= dir;
    }
    const parent = dirname(dir);
    if (parent === dir) return own ?? resolve(here, '..');
    dir = parent;
  }
}

/** Default folder for the emulator's CA, server certificate and keys (`.local/emulator/` of the project, gitignored). */
export const DEFAULT_DATA_DIR = join(projectRoot(), '.local', 'emulator');

/** File names inside the data folder. */
export const CERT_FILES = {
  caCert: 'ca.pem',
  caKey: 'ca-key.pem',
  serverCert: 'server.pem',
  serverKey: 'server-key.pem',
  /** Client certificate + key in one PEM, usable as ClientCertificateCredential's `certificatePath`. */
  clientPem: 'client-cert-and-key.pem',
  clientCert: 'client-cert.pem',
  signingKey: 'token-signing-key.pem',
} as const;

/** Paths and PEM texts of the emulator's key material. */
export interface EmulatorCertificates {
  dataDir: string;
  caCertPath: string;
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** PEM with the generated client certificate followed by its private key. */
  clientCertAndKeyPath: string;
  clientCertPem: string;
  /** RSA key that signs access tokens (its public part is served as JWKS). */
  signingKeyPem: string;
}

function newRsaKeyPair(): {
  publicKey: forge.pki.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  privatePem: string;
} {
  // node:crypto generates RSA keys far faster than forge's pure-JS generator.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privatePem);
  return { publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), privateKey: forgeKey, privatePem };
}

function serial(): string {
  // Positive serial number: clear the top bit.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function issue(options: {
  subject: string;
  publicKey: forge.pki.PublicKey;
  issuerCert?: forge.pki.Certificate;
  signingKey: forge.pki.rsa.PrivateKey;
  years: number;
  extensions: object[];
}): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = options.publicKey;
  cert.serialNumber = serial();
  const notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  const notAfter = new Date(notBefore);
  notAfter.setFullYear(notAfter.getFullYear() + options.years);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const attrs = [
    { name: 'commonName', value: options.subject },
    { name: 'organizationName', value: 'dmf-functions F&O emulator' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(options.issuerCert ? options.issuerCert.subject.attributes : attrs);
  cert.setExtensions(options.extensions);
  cert.sign(options.signingKey, forge.md.sha256.create());
  return cert;
}

function generateAll(dataDir: string): void {
  const ca = newRsaKeyPair();
  const caCert = issue({
    subject: 'dmf-functions emulator local CA',
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    years: 10,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  const server = newRsaKeyPair();
  const serverCert = issue({
    subject: 'localhost',
    publicKey: server.publicKey,
    issuerCert: caCert,
    signingKey: ca.privateKey,
    years: 2,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const client = newRsaKeyPair();
  const clientCert = issue({
    subject: 'dmf-functions emulator client',
    publicKey: client.publicKey,
    signingKey: client.privateKey,
    years: 2,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  const signing = newRsaKeyPair();
  const clientCertPem = forge.pki.certificateToPem(clientCert);
  const files: [string, string][] = [
    [CERT_FILES.caKey, ca.privatePem],
    [CERT_FILES.serverCert, forge.pki.certificateToPem(serverCert)],
    [CERT_FILES.serverKey, server.privatePem],
    [CERT_FILES.clientCert, clientCertPem],
    [CERT_FILES.clientPem, clientCertPem + client.privatePem],
    [CERT_FILES.signingKey, signing.privatePem],
    // The CA goes last: its presence marks a complete set.
    [CERT_FILES.caCert, forge.pki.certificateToPem(caCert)],
  ];
  for (const [name, content] of files) {
    const tmp = join(dataDir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, content, {
      mode: name.endsWith('key.pem') || name === CERT_FILES.clientPem ? 0o600 : 0o644,
    });
    renameSync(tmp, join(dataDir, name));
  }
}

function isComplete(dataDir: string): boolean {
  if (!Object.values(CERT_FILES).every((f) => existsSync(join(dataDir, f)))) return false;
  try {
    const server = new X509Certificate(readFileSync(join(dataDir, CERT_FILES.serverCert)));
    const ca = new X509Certificate(readFileSync(join(dataDir, CERT_FILES.caCert)));
    // Renew a week before expiry, and whenever the server cert was not issued by this CA.
    return (
      new Date(server.validTo).getTime() > Date.now() + 7 * 24 * 3600 * 1000 && server.verify(ca.publicKey)
    );
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Creates the local CA, the server certificate (SANs localhost, 127.0.0.1, ::1), a client
 * certificate and the token-signing key in `dataDir` on first use, and reuses them afterwards.
 * Safe to call from several processes at once (a lock folder serialises generation). Call it from
 * vitest's globalSetup so workers can trust the CA through NODE_EXTRA_CA_CERTS.
 */
export function ensureEmulatorCertificates(dataDir: string = DEFAULT_DATA_DIR): EmulatorCertificates {
  mkdirSync(dataDir, { recursive: true });
  if (!isComplete(dataDir)) {
    const lock = join(dataDir, '.lock');
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        try {
          // A lock older than 60 s belongs to a process that died mid-generation.
          if (Date.now() - statSync(lock).mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
        } catch {
          /* removed meanwhile */
        }
        if (Date.now() > deadline) throw new Error(`Timed out waiting for the certificate lock ${lock}`);
        sleepSync(100);
      }
    }
    try {
      if (!isComplete(dataDir)) generateAll(dataDir);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  const read = (name: string): string => readFileSync(join(dataDir, name), 'utf8');
  return {
    dataDir,
    caCertPath: join(dataDir, CERT_FILES.caCert),
    caCertPem: read(CERT_FILES.caCert),
    serverCertPem: read(CERT_FILES.serverCert),
    serverKeyPem: read(CERT_FILES.serverKey),
    clientCertAndKeyPath: join(dataDir, CERT_FILES.clientPem),
    clientCertPem: read(CERT_FILES.clientCert),
    signingKeyPem: read(CERT_FILES.signingKey),
  };
}

/** SHA-1 and SHA-256 thumbprints (base64url of the DER) as used in JWT `x5t` / `x5t#S256`. */
export function thumbprints(certPem: string): { x5t: string; x5tS256: string } {
  const der = new X509Certificate(certPem).raw;
  return {
    x5t: createHash('sha1').update(der).digest('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
  };
}
