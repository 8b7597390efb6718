// --reload through the real server: a changed source file reloads the workers; a broken one keeps
// the old workers serving; extra files and both engines work.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Server, get, runCli, startServer, waitUntil } from '../helpers';

const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
});

function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-reload-'));
  fs.writeFileSync(path.join(dir, 'greeting.py'), 'TEXT = "v1"\n');
  fs.writeFileSync(
    path.join(dir, 'relapp.py'),
    [
      'import greeting',
      '',
      'def app(environ, start_response):',
      '    body = greeting.TEXT.encode()',
      '    start_response("200 OK", [("Content-Length", str(len(body)))])',
      '    return [body]',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'template.html'), '<p>v1</p>\n');
  return dir;
}

async function body(s: Server): Promise<string> {
  try {
    return (await get(s.port, '/')).body.toString();
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- server output ---\n${s.output().split("\n").filter((l) => /^\[/.test(l)).slice(-25).join("\n")}`);
  }
}

for (const engine of ['auto', 'poll']) {
  describe(`--reload (engine ${engine})`, () => {
    test('a changed module reloads the workers; a syntax error keeps the old ones; fixing it reloads again', async () => {
      const dir = project();
      const s = await startServer(['--chdir', dir, '-w', '2', '--reload', '--reload-engine', engine, 'relapp:app']);
      started.push(s);
      assert.equal(await body(s), 'v1');
      // A module imported by the app (not only the app's own file) is watched.
      await new Promise((r) => setTimeout(r, 300));
      fs.writeFileSync(path.join(dir, 'greeting.py'), 'TEXT = "v2"\n');
      await s.waitForOutput(new RegExp(`Worker reloading: ${dir}/greeting\\.py modified`), 15000);
      await waitUntil(async () => (await body(s)) === 'v2', 15000, 'the new code to serve');
      // Until the reload completes, old workers may still answer: let it finish before the next change.
      await s.waitForOutput(/Reload complete/, 15000);
      await waitUntil(() => (s.output().match(/Worker exiting/g) ?? []).length >= 2, 15000, 'the old workers to exit');

      const mark = s.output().length;
      fs.writeFileSync(path.join(dir, 'greeting.py'), 'TEXT = "v3\n');
      await s.waitForOutput(/Reload failed: the app failed to load in the new workers; the old workers keep serving/, 15000, mark);
      assert.match(s.output().slice(mark), /SyntaxError/);
      for (let i = 0; i < 10; i++) assert.equal(await body(s), 'v2');

      fs.writeFileSync(path.join(dir, 'greeting.py'), 'TEXT = "v4"\n');
      await waitUntil(async () => (await body(s)) === 'v4', 15000, 'the fixed code to serve');
      await s.stop();
    });
  });
}

describe('reload_extra_files', () => {
  test('a change to an extra file reloads the workers', async () => {
    const dir = project();
    const s = await startServer(['--chdir', dir, '--reload', '--reload-extra-file', path.join(dir, 'template.html'), 'relapp:app']);
    started.push(s);
    fs.writeFileSync(path.join(dir, 'template.html'), '<p>v2</p>\n');
    await s.waitForOutput(/Worker reloading: .*template\.html modified/, 15000);
    await s.waitForOutput(/Reload complete/, 15000);
    await s.stop();
  });

  test('a missing extra file is refused before anything starts', async () => {
    const r = await runCli(['--reload', '--reload-extra-file', '/no/such/template.html', 'relapp:app']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unicorn: error: reload_extra_files: \/no\/such\/template\.html does not exist — name existing files \(templates, data\) to watch\n$/);
  });
});
