'use strict';

// Certificates for the https tests, made with the `openssl` CLI the first time
// they are asked for (once per module registry: once per Jest test file), in a
// private temp dir that is removed as soon as the PEMs are read into memory —
// nothing is left behind even when the process is killed, and Jest's sandboxed
// `process` never delivers 'exit' to a test module anyway. Every key is EC
// P-256 (~0.3 s for the whole set).
// Tested with OpenSSL 3.0 (and uses no option 1.1.1 lacks). The CLI is driven
// with its own minimal config files (no dependency on the system's
// openssl.cnf); the expired leaf comes from `openssl ca -startdate/-enddate`
// (x509's -not_before/-not_after exist only since 3.4).
//
//   const certs = getCerts();
//   certs.ca                 the test CA
//   certs.leaf               localhost, 127.0.0.1, ::1, signed by the CA
//   certs.selfSigned         localhost, 127.0.0.1, ::1, self-signed
//   certs.expired            localhost, 127.0.0.1, ::1, signed by the CA, expired in 2020
//   certs.wrongHost          other.example only, signed by the CA
//   certs.client             CN "cpc test client", clientAuth, signed by the CA
//   certs.otherCa            a second CA that signed nothing used here
// Each entry is { cert, key } (PEM strings).
//
//   writePemFile(pem) -> { path, remove() }   for APIs that want a file
//   (NODE_EXTRA_CA_CERTS): a new private temp dir; call remove() when done.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const SAN_LOCAL = 'DNS:localhost,IP:127.0.0.1,IP:::1';
const CLIENT_CN = 'cpc test client';

let cached = null;

function opensslVersion() {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    const e = new Error(
      `tls-certs: the \`openssl\` command is needed to generate test certificates (${err.message}); ` +
        'install it (apt-get install openssl)',
    );
    e.cause = err;
    throw e;
  }
}

function openssl(args, cwd) {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = err.stderr ? err.stderr.toString() : '';
    throw new Error(`tls-certs: openssl ${args.join(' ')} failed: ${stderr || err.message}`);
  }
}

const REQ_CNF = `
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
`;

// The smallest `openssl ca` setup: a flat database, no policy beyond a CN, and
// the CSR's extensions (its subjectAltName) copied into the certificate.
function caCnf(dir) {
  return `
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/issued
serial = ${dir}/serial
default_md = sha256
policy = policy_any
copy_extensions = copy
unique_subject = no
x509_extensions = leaf_ext
[ policy_any ]
commonName = supplied
[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
`;
}

function leafExt(san, usage) {
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${usage}`,
    'authorityKeyIdentifier = keyid',
    'subjectKeyIdentifier = hash',
    san ? `subjectAltName = ${san}` : '',
    '',
  ].join('\n');
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir, name, cn) {
  openssl(
    [
      'req', '-x509', '-config', 'req.cnf', ...EC,
      '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${cn}`, '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
    ],
    dir,
  );
}

function makeCsr(dir, name, cn, san) {
  const args = ['req', '-new', '-config', 'req.cnf', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  openssl(args, dir);
}

let serial = 0x1000;
function signLeaf(dir, name, cn, san, usage = 'serverAuth') {
  makeCsr(dir, name, cn, san);
  fs.writeFileSync(path.join(dir, `${name}.ext`), leafExt(san, usage));
  serial += 1;
  openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
      '-set_serial', `0x${serial.toString(16)}`, '-days', '825', '-sha256',
      '-extfile', `${name}.ext`, '-out', `${name}.pem`,
    ],
    dir,
  );
}

function generate(dir) {
  fs.writeFileSync(path.join(dir, 'req.cnf'), REQ_CNF);
  makeCa(dir, 'ca', 'cpc test CA');
  makeCa(dir, 'other-ca', 'cpc other test CA');
  signLeaf(dir, 'leaf', 'localhost', SAN_LOCAL);
  signLeaf(dir, 'wrong-host', 'other.example', 'DNS:other.example');
  signLeaf(dir, 'client', CLIENT_CN, null, 'clientAuth');

  // Self-signed leaf: not a CA, so OpenSSL reports "self-signed certificate".
  openssl(
    [
      'req', '-x509', '-config', 'req.cnf', ...EC,
      '-keyout', 'self-signed.key', '-out', 'self-signed.pem', '-subj', '/CN=localhost', '-days', '825',
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', 'extendedKeyUsage=serverAuth',
      '-addext', `subjectAltName=${SAN_LOCAL}`,
    ],
    dir,
  );

  // Expired leaf: valid for one day in January 2020.
  fs.mkdirSync(path.join(dir, 'issued'));
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'serial'), '2000\n');
  fs.writeFileSync(path.join(dir, 'ca.cnf'), caCnf(dir));
  makeCsr(dir, 'expired', 'localhost', SAN_LOCAL);
  openssl(
    [
      'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-notext',
      '-startdate', '20200101000000Z', '-enddate', '20200102000000Z',
      '-in', 'expired.csr', '-out', 'expired.pem',
    ],
    dir,
  );
}

function entry(dir, name) {
  return {
    cert: fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8'),
    key: fs.readFileSync(path.join(dir, `${name}.key`), 'utf8'),
  };
}

function getCerts() {
  if (cached) return cached;
  const version = opensslVersion();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpc-tls-certs-'));
  try {
    generate(dir);
    cached = {
      opensslVersion: version,
      ca: entry(dir, 'ca'),
      otherCa: entry(dir, 'other-ca'),
      leaf: entry(dir, 'leaf'),
      selfSigned: entry(dir, 'self-signed'),
      expired: entry(dir, 'expired'),
      wrongHost: entry(dir, 'wrong-host'),
      client: entry(dir, 'client'),
      clientCommonName: CLIENT_CN,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return cached;
}

function writePemFile(pem, name = 'cert.pem') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpc-tls-pem-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, pem, { mode: 0o600 });
  return { path: file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

module.exports = { getCerts, writePemFile };
