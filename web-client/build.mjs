// Builds dist/: index.html, favicon.svg and assets/app.{js,css} with fixed
// names, which the gateway embeds in its binary (src/transport/web.rs).
import * as esbuild from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';

const out = new URL('./dist/', import.meta.url);
await rm(out, { recursive: true, force: true });
await mkdir(new URL('assets/', out), { recursive: true });

await esbuild.build({
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
});
await copyFile(new URL('./index.html', import.meta.url), new URL('index.html', out));
await copyFile(new URL('./public/favicon.svg', import.meta.url), new URL('favicon.svg', out));
