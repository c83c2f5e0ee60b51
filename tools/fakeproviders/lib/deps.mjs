// Third-party modules come from tests/e2e/node_modules (the e2e suite's package.json pins them),
// so the server runs as `node tools/fakeproviders/server.mjs` from anywhere without its own install.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
const e2ePackage = process.env.FAKEPROVIDERS_PACKAGE_JSON ?? path.join(repoRoot, 'tests/e2e/package.json');
const require = createRequire(e2ePackage);

export const { SignatureV4 } = require('@smithy/signature-v4');
export const { Sha256 } = require('@aws-crypto/sha256-js');
