// Builds dist/: index.html, favicon.svg and assets/app.{js,css} with fixed
// names, which the gateway embeds in its binary (src/transport/web.rs).
// A file is only rewritten when its bytes change, so an unchanged build does
// not make cargo recompile the gateway.
import * as esbuild from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist');

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.ts' },
  outdir: 'dist/assets',
  entryNames: '[name]',
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome111', 'firefox111', 'safari16'],
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
  write: false,
});

const files = new Map(result.outputFiles.map((f) => [f.path, f.contents]));
files.set(path.join(dist, 'index.html'), await readFile(path.join(root, 'index.html')));
files.set(path.join(dist, 'favicon.svg'), await readFile(path.join(root, 'public', 'favicon.svg')));

for (const [file, bytes] of files) {
  const old = await readFile(file).catch(() => null);
  if (old && Buffer.compare(old, Buffer.from(bytes)) === 0) continue;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
}
