// Bundles the three entry points (extension client, language server, runtime CLI) into dist/
// and copies the Python worker beside the runtime. `--watch` rebuilds, `--production` minifies.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
// --outdir=DIR builds somewhere else than dist/ (the packaging test builds a .vsix without
// touching the dist/ that other tests are running).
const outdir = path.resolve(__dirname, process.argv.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length) || 'dist');

const entries = [
  { in: 'client/src/extension.ts', out: 'client/extension' },
  { in: 'client/src/task-runner.ts', out: 'client/task-runner' },
  { in: 'server/src/server.ts', out: 'server/server' },
  { in: 'runtime/src/cli.ts', out: 'runtime/cli' },
  ...vscodeSuiteEntries(),
];

// The in-VS-Code suite (test/vscode/suite): its entry point index.ts and every *.test.ts, each
// bundled on its own into dist/test/vscode/suite/ (harness.ts is inlined). mocha stays external
// and resolves from the repository's node_modules; .vscodeignore keeps dist/test out of the .vsix.
function vscodeSuiteEntries() {
  const dir = path.join('test', 'vscode', 'suite');
  if (!fs.existsSync(path.join(__dirname, dir))) return [];
  return fs.readdirSync(path.join(__dirname, dir))
    .filter((f) => f === 'index.ts' || f.endsWith('.test.ts'))
    .map((f) => ({ in: path.join(dir, f), out: path.join('test', 'vscode', 'suite', f.replace(/\.ts$/, '')) }));
}

function copyPython() {
  const from = path.join(__dirname, 'runtime', 'python');
  const to = path.join(outdir, 'runtime', 'python');
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, {
    recursive: true,
    filter: (src) => !/__pycache__|\.pyc$/.test(src),
  });
}

// The language server's parser: tree-sitter's runtime and the Python grammar, built to match,
// found beside dist/server/server.js at run time.
function copyTreeSitter() {
  const from = path.join(__dirname, 'node_modules', '@vscode', 'tree-sitter-wasm', 'wasm');
  const to = path.join(outdir, 'server');
  fs.mkdirSync(to, { recursive: true });
  for (const file of ['tree-sitter.wasm', 'tree-sitter-python.wasm']) fs.copyFileSync(path.join(from, file), path.join(to, file));
}

async function main() {
  const ctx = await esbuild.context({
    entryPoints: entries,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    absWorkingDir: __dirname,
    outdir,
    external: ['vscode', 'mocha'],
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    plugins: [
      { name: 'copy-python', setup(build) { build.onEnd(copyPython); } },
      { name: 'copy-tree-sitter', setup(build) { build.onEnd(copyTreeSitter); } },
    ],
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
