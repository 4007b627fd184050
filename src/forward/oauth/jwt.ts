// RS256-signed JSON Web Tokens for the two assertion grants: Microsoft's certificate client
// assertion (RFC 7523 client authentication) and Google's service-account JWT bearer grant.
import { createHash, createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}

export interface CertificateCredential {
  key: KeyObject;
  /** Base64url SHA-1 and SHA-256 thumbprints of the DER certificate (x5t, x5t#S256). */
  x5t: string;
  x5tS256: string;
  notAfter: Date;
}

/** A PEM file holding the private key and the certificate uploaded to the app registration. */
export function readCertificateCredential(pem: string, file: string): CertificateCredential {
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!certPem) throw new Error(`${file} holds no certificate (put the private key and the certificate in one PEM file)`);
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new Error(`${file} holds no usable private key: ${(e as Error).message}`);
  }
  const cert = new X509Certificate(certPem);
  if (!cert.checkPrivateKey(key)) throw new Error(`${file}: the private key does not belong to the certificate`);
  return {
    key,
    x5t: b64url(createHash('sha1').update(cert.raw).digest()),
    x5tS256: b64url(createHash('sha256').update(cert.raw).digest()),
    notAfter: new Date(cert.validTo),
  };
}

/** Microsoft identity platform client assertion (certificate credential), valid 10 minutes. */
export function clientAssertion(cred: CertificateCredential, clientId: string, tokenUrl: string, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  return signJwt(
    { x5t: cred.x5t, 'x5t#S256': cred.x5tS256 },
    {
      aud: tokenUrl,
      iss: clientId,
      sub: clientId,
      jti: randomUUID(),
      nbf: now,
      iat: now,
      exp: now + 600,
    },
    cred.key,
  );
}

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
}

export function parseServiceAccountKey(text: string, file: string): ServiceAccountKey {
  let j: Partial<ServiceAccountKey> & { type?: string };
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not a JSON service-account key: ${(e as Error).message}`);
  }
  if (j.type !== 'service_account' || !j.client_email || !j.private_key) {
    throw new Error(`${file} is not a service-account key (download it in the Google Cloud console: IAM > Service accounts > Keys > Add key > JSON)`);
  }
  return {
    client_email: j.client_email,
    private_key: j.private_key,
    private_key_id: j.private_key_id,
    token_uri: j.token_uri ?? 'https://oauth2.googleapis.com/token',
  };
}

/** Google's JWT bearer assertion acting as `subject` (domain-wide delegation), valid one hour. */
export function serviceAccountAssertion(sa: ServiceAccountKey, subject: string, scope: string, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  return signJwt(
    sa.private_key_id ? { kid: sa.private_key_id } : {},
    {
      iss: sa.client_email,
      sub: subject,
      scope,
      aud: sa.token_uri,
      iat: now,
      exp: now + 3600,
    },
    createPrivateKey(sa.private_key),
  );
}
