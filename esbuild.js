// Bundles the three entry points (extension client, language server, runtime CLI) into dist/
// and copies the Python worker beside the runtime. `--watch` rebuilds, `--production` minifies.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const entries = [
  { in: 'client/src/extension.ts', out: 'client/extension' },
  { in: 'server/src/server.ts', out: 'server/server' },
  { in: 'runtime/src/cli.ts', out: 'runtime/cli' },
];

function copyPython() {
  const from = path.join(__dirname, 'runtime', 'python');
  const to = path.join(__dirname, 'dist', 'runtime', 'python');
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, {
    recursive: true,
    filter: (src) => !/__pycache__|\.pyc$/.test(src),
  });
}

async function main() {
  const ctx = await esbuild.context({
    entryPoints: entries,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outdir: 'dist',
    external: ['vscode'],
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    plugins: [{ name: 'copy-python', setup(build) { build.onEnd(copyPython); } }],
  });
  if (watch) {
    await ctx.watch();
  } else {
    await ctx.rebuild();
    await ctx.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
