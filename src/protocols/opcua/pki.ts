// The gateway's OPC UA PKI, kept in `<data_dir>/pki` so the application certificate
// is created once and survives restarts (servers trust it once, not after every
// container update), and so unknown server certificates land in `rejected/` where
// `energy-gateway opcua certs trust` can find them.
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';

export const APPLICATION_NAME = 'energy-gateway';

export function pkiDir(dataDir: string): string {
  return join(dataDir, 'pki');
}

/** Certificate manager rooted in `<data_dir>/pki`; unknown peers are rejected, never auto-trusted. */
export function createCertificateManager(dataDir: string): OPCUACertificateManager {
  return new OPCUACertificateManager({
    rootFolder: pkiDir(dataDir),
    automaticallyAcceptUnknownCertificate: false,
  });
}

export function clientCertificateFile(dataDir: string): string {
  return join(pkiDir(dataDir), 'own', 'certs', 'client_certificate.pem');
}

/**
 * The application URI the client announces. It must equal the URI inside the
 * certificate, so once a certificate exists its URI wins: a container whose hostname
 * changes keeps the identity the servers already trust.
 */
export function applicationUri(dataDir: string): string {
  const file = clientCertificateFile(dataDir);
  if (existsSync(file)) {
    const uri = certificateInfo(pemToDer(readFileSync(file, 'utf8'))).applicationUri;
    if (uri) return uri;
  }
  return `urn:${hostname()}:${APPLICATION_NAME}`;
}

/** SHA-1 of the DER certificate, lower-case hex: the thumbprint OPC UA tools show. */
export function thumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

/** Normalises what a user types: `AB:CD…`, `abcd…`, with or without spaces. */
export function normaliseThumbprint(text: string): string {
  return text.replace(/[\s:]/g, '').toLowerCase();
}

export function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('no PEM certificate found');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

export interface CertificateInfo {
  thumbprint: string;
  subject: string;
  applicationUri?: string;
  validFrom: string;
  validTo: string;
}

export function certificateInfo(der: Buffer): CertificateInfo {
  const x = new X509Certificate(der);
  const uri = /URI:([^,\s]+)/.exec(x.subjectAltName ?? '')?.[1];
  return {
    thumbprint: thumbprint(der),
    subject: x.subject.replace(/\n/g, ', '),
    ...(uri ? { applicationUri: uri } : {}),
    validFrom: new Date(x.validFrom).toISOString(),
    validTo: new Date(x.validTo).toISOString(),
  };
}

export type CertificateStatus = 'trusted' | 'rejected' | 'own';
export interface StoredCertificate extends CertificateInfo {
  status: CertificateStatus;
  file: string;
}

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => /\.(pem|der)$/i.test(f)).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

function readAnyCertificate(file: string): Buffer {
  const buf = readFileSync(file);
  return buf.subarray(0, 11).toString('latin1') === '-----BEGIN ' ? pemToDer(buf.toString('utf8')) : buf;
}

/** Every certificate in the PKI, own first, then trusted and rejected peers. */
export function listCertificates(dataDir: string): StoredCertificate[] {
  const root = pkiDir(dataDir);
  const out: StoredCertificate[] = [];
  const folders: Array<[CertificateStatus, string]> = [
    ['own', join(root, 'own', 'certs')], ['trusted', join(root, 'trusted', 'certs')], ['rejected', join(root, 'rejected')],
  ];
  for (const [status, dir] of folders) {
    for (const file of readDir(dir)) {
      try {
        out.push({ status, file, ...certificateInfo(readAnyCertificate(file)) });
      } catch {
        // A stray non-certificate file is not worth failing the listing for.
      }
    }
  }
  return out;
}

/** The certificate most recently put in rejected/ (the server we just failed to trust). */
export function newestRejected(dataDir: string): StoredCertificate | undefined {
  const rejected = listCertificates(dataDir).filter((c) => c.status === 'rejected');
  const mtime = (file: string): number => {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return 0;
    }
  };
  return rejected.sort((a, b) => mtime(b.file) - mtime(a.file))[0];
}

export type TrustResult =
  | { ok: true; certificate: StoredCertificate; alreadyTrusted: boolean }
  | { ok: false; reason: 'not_found' | 'ambiguous'; candidates: StoredCertificate[] };

/**
 * Moves a rejected certificate to `trusted/` by thumbprint (a unique prefix of at
 * least 8 hex digits is enough). A running gateway picks it up on its next
 * connection attempt.
 */
export async function trustCertificate(dataDir: string, thumbprintText: string): Promise<TrustResult> {
  const wanted = normaliseThumbprint(thumbprintText);
  const peers = listCertificates(dataDir).filter((c) => c.status !== 'own');
  const matches = wanted.length >= 8 ? peers.filter((c) => c.thumbprint.startsWith(wanted)) : [];
  const unique = [...new Map(matches.map((c) => [c.thumbprint, c])).values()];
  const found = unique[0];
  if (!found) return { ok: false, reason: 'not_found', candidates: peers.filter((c) => c.status === 'rejected') };
  if (unique.length > 1) return { ok: false, reason: 'ambiguous', candidates: unique };
  const trusted = matches.find((c) => c.status === 'trusted');
  if (trusted) return { ok: true, certificate: trusted, alreadyTrusted: true };
  const cm = createCertificateManager(dataDir);
  try {
    await cm.initialize();
    await cm.trustCertificate(readAnyCertificate(found.file));
  } finally {
    await cm.dispose();
  }
  return { ok: true, certificate: { ...found, status: 'trusted' }, alreadyTrusted: false };
}
