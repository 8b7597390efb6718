// `npm run package` builds a .vsix that holds the bundled extension, language server, runtime and
// Python worker and nothing else, and that installs into code-server. Builds into a staging copy
// so the dist/ other tests are running is never rewritten.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { ROOT } from '../helpers';

const VSCE = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
const CODE_SERVER = path.join(ROOT, '.vscode-test', 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string; scripts: Record<string, string> };

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
  assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(' ')} failed (${r.signal ?? `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The entries of a zip file, read by Python's zipfile (python3 is on every machine the tests run on). */
function zipEntries(file: string): string[] {
  const out = run('python3', ['-c', 'import json, sys, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))', file], ROOT);
  return JSON.parse(out) as string[];
}

test('npm run package: a .vsix with the bundles, the worker and the wasm, no node_modules, installable into code-server', async (t) => {
  assert.match(manifest.scripts.package ?? '', /esbuild\.js --production && vsce package --no-dependencies .*--readme-path client\/README\.md/, 'the package script is what this test repeats');
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-vsix-'));
  t.after(() => fs.rmSync(stage, { recursive: true, force: true }));

  // What vsce reads from the extension folder, with a production build in the staging dist/.
  for (const entry of fs.readdirSync(ROOT)) {
    if (['package.json', 'README.md', '.vscodeignore', 'runtime', 'syntaxes', 'images'].includes(entry) || /^(LICENSE|CHANGELOG)/.test(entry)) {
      fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true, filter: (src) => !src.includes(`${path.sep}src`) });
    }
  }
  fs.mkdirSync(path.join(stage, 'client'));
  fs.copyFileSync(path.join(ROOT, 'client', 'README.md'), path.join(stage, 'client', 'README.md'));
  run(process.execPath, [path.join(ROOT, 'esbuild.js'), '--production', `--outdir=${path.join(stage, 'dist')}`], ROOT);
  const vsix = path.join(stage, 'unicorn.vsix');
  run(process.execPath, [VSCE, 'package', '--no-dependencies', '--readme-path', 'client/README.md', '--out', vsix], stage);

  const entries = zipEntries(vsix);
  for (const file of [
    'extension/package.json',
    'extension/dist/client/extension.js',
    'extension/dist/server/server.js',
    'extension/dist/server/tree-sitter.wasm',
    'extension/dist/server/tree-sitter-python.wasm',
    'extension/dist/runtime/cli.js',
    'extension/dist/runtime/python/unicorn_worker_main.py',
    'extension/runtime/bin/unicorn.js',
    'extension/runtime/bin/unicorn-django.js',
    'extension/dist/client/task-runner.js',
    'extension/images/icon.png',
    'extension/readme.md',
  ]) {
    assert.ok(entries.includes(file), `${file} is missing from the .vsix — check .vscodeignore`);
  }
  // The Marketplace page is the user's README (what the extension does), not the developer one.
  const readme = run('python3', ['-c', 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("extension/readme.md").decode())', vsix], ROOT);
  assert.match(readme, /^# Unicorn for VS Code/);
  assert.doesNotMatch(readme, /npm (install|start)/);
  const unwanted = entries.filter((e) => /(^|\/)node_modules\/|\.map$|^extension\/dist\/test\/|^extension\/test\/|\/src\/|\.ts$|__pycache__|\.vsix$/.test(e));
  assert.deepEqual(unwanted, [], 'the .vsix should hold only what the extension runs');

  // code-server installs it (the same extension management code as VS Code).
  assert.ok(fs.existsSync(CODE_SERVER), 'code-server is not installed — run bash test/vscode/setup-code-server.sh');
  const extensionsDir = path.join(stage, 'extensions');
  const env = {
    ...process.env,
    // No marketplace: a closed loopback port.
    EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: 'http://127.0.0.1:9/gallery', itemUrl: 'http://127.0.0.1:9/items', resourceUrlTemplate: 'http://127.0.0.1:9/r' }),
  };
  const out = run(process.execPath, [CODE_SERVER, '--install-extension', vsix, '--extensions-dir', extensionsDir, '--user-data-dir', path.join(stage, 'user-data')], stage, env);
  assert.match(out, /successfully installed/i);
  const installed = path.join(extensionsDir, `${manifest.publisher}.${manifest.name}-${manifest.version}`.toLowerCase());
  for (const file of ['package.json', 'dist/client/extension.js', 'dist/runtime/python/unicorn_worker_main.py']) {
    assert.ok(fs.existsSync(path.join(installed, file)), `${file} is not in the installed extension at ${installed}`);
  }
});
