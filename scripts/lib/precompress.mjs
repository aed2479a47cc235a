// Trunk's post-build hook (Trunk.toml): writes a brotli (quality 11) copy beside each hashed
// file of the build (`casedesk-<hash>_bg.wasm` → `…_bg.wasm.br`), which the reference server
// sends as it is (tower-http's ServeDir, `precompressed_br`). Compressing on the fly, the
// server sends the wasm at a fast, low brotli level: about 110 KB more than quality 11, half a
// second on slow 4G. Only hashed files: their content never changes under their name, so a
// copy can never be stale; index.html and sw.js stay compressed on the fly.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";

const dir = process.env.TRUNK_STAGING_DIR ?? process.argv[2];
if (!dir) {
  console.error("precompress: no folder (TRUNK_STAGING_DIR or an argument)");
  process.exit(1);
}
// Trunk's hashed names, as public/sw.js and the server recognise them.
const HASHED = /-[0-9a-f]{8,}(_bg)?\.(wasm|js|css|svg)$/i;
for (const name of readdirSync(dir)) {
  const path = join(dir, name);
  if (!HASHED.test(name) || !statSync(path).isFile()) continue;
  const bytes = readFileSync(path);
  const compressed = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  // Smaller only: otherwise the file itself is the better answer.
  if (compressed.length < bytes.length) writeFileSync(`${path}.br`, compressed);
}
