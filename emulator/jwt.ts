import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';

/** A signer for RS256 JWTs and the JWKS that verifies them. */
export interface TokenSigner {
  kid: string;
  publicKey: KeyObject;
  sign(payload: Record<string, unknown>): string;
  jwks(): { keys: Record<string, unknown>[] };
}

/** Creates a signer from a PEM private key; `kid` is derived from the public key. */
export function createTokenSigner(privateKeyPem: string): TokenSigner {
  const privateKey = createPrivateKey(privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(String(jwk.n)).digest('base64url').slice(0, 27);
  return {
    kid,
    publicKey,
    sign(payload) {
      const header = { alg: 'RS256', typ: 'JWT', kid };
      const input = `${b64(header)}.${b64(payload)}`;
      return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    },
    jwks() {
      return { keys: [{ kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: jwk.n, e: jwk.e }] };
    },
  };
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const HeaderSchema = z.looseObject({
  alg: z.string(),
  kid: z.string().optional(),
  x5t: z.string().optional(),
  'x5t#S256': z.string().optional(),
});

/** A JWT split into its decoded parts (signature not yet checked). */
export interface DecodedJwt {
  header: z.infer<typeof HeaderSchema>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Decodes a compact JWT; returns undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = HeaderSchema.parse(JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')));
    const payload = z
      .record(z.string(), z.unknown())
      .parse(JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')));
    return {
      header,
      payload,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2] ?? '', 'base64url'),
    };
  } catch {
    return undefined;
  }
}

/** Checks an RS256 or PS256 signature with `key`. */
export function verifyJwtSignature(jwt: DecodedJwt, key: KeyObject): boolean {
  const data = Buffer.from(jwt.signingInput);
  try {
    if (jwt.header.alg === 'RS256') return verify('sha256', data, key, jwt.signature);
    if (jwt.header.alg === 'PS256') {
      return verify(
        'sha256',
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
        jwt.signature,
      );
    }
  } catch {
    return false;
  }
  return false;
}
