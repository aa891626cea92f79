/**
 * A throwaway CA and a server certificate for 127.0.0.1 / ::1 / localhost, made with the
 * `openssl` CLI in a temp directory, for tests that talk TLS (the official Cloud client only
 * speaks TLS and trusts only the roots in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
 *
 * grpc-js reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once, when it is first loaded, and a handshake
 * failure surfaces only as "Failed to connect before the deadline". So: call `makeTestTls()`, set
 * `process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = tls.caPath`, and only then `await import()` any
 * module that loads @grpc/grpc-js (the server and @temporalio/cloud), never a static import.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestTls {
  dir: string;
  /** PEM file of the CA; point GRPC_DEFAULT_SSL_ROOTS_FILE_PATH (or a client's `ca`) here. */
  caPath: string;
  caPem: string;
  /** Server certificate (PEM), SAN IP:127.0.0.1, IP:::1, DNS:localhost. */
  certPem: string;
  /** Server private key (PEM). */
  keyPem: string;
  /** Deletes the directory. */
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Generates the CA and server certificate (EC P-256, valid one day). */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=auditstream test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.ext'],
    dir,
  );
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    caPath: join(dir, 'ca.pem'),
    caPem: read('ca.pem'),
    certPem: read('server.pem'),
    keyPem: read('server.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
