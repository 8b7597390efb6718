// The differential fuzzer (test/fuzz/fuzz_http.py) as a bounded CI run: a fixed seed and a few thousand
// hypothesis examples against real Unicorn servers (sync, gthread, asgi) with h11 as the reference parser.
// Every disagreement must be a row of test/fuzz/DIFFERENCES.md. `npm run fuzz` runs it longer:
// FUZZ_EXAMPLES (default 1500 sync + half that gthread and asgi) and FUZZ_SEED (default 20261201) override.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, FIXTURES, ROOT, SYSTEM_PYTHON, Server } from '../helpers';

const FUZZER = path.join(ROOT, 'test', 'fuzz', 'fuzz_http.py');
const EXAMPLES = Number(process.env.FUZZ_EXAMPLES ?? 1500);
const SEED = process.env.FUZZ_SEED ?? '20261201';

function fuzz(port: number, examples: number, report: string, extra: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, [FUZZER, '--port', String(port), '--examples', String(examples), '--seed', SEED, '--report', report, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

// [class, server arguments, examples, fuzzer arguments]
const CLASSES: Array<[string, string[], number, string[]]> = [
  ['sync', ['conformance_app:app'], EXAMPLES, []],
  ['gthread', ['-k', 'gthread', '--threads', '2', 'conformance_app:app'], Math.ceil(EXAMPLES / 2), []],
  ['asgi', ['-k', 'asgi', 'conformance_app:asgi_app'], Math.ceil(EXAMPLES / 2), ['--asgi']],
];

for (const [klass, args, examples, fuzzArgs] of CLASSES) {
  describe(`differential fuzzing against h11 (${klass})`, () => {
    let server: Server;
    before(async () => {
      server = await startServer(['--chdir', path.join(FIXTURES, 'apps'), ...args]);
    });
    after(async () => {
      await server?.stop();
    });

    test(`${examples} generated requests (seed ${SEED}): every disagreement is a listed deliberate difference`, async () => {
      const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-fuzz-')), 'report.jsonl');
      const { code, out } = await fuzz(server.port, examples, report, fuzzArgs);
      process.stdout.write(`# ${klass}: ${out.split('\n').filter((l) => !l.startsWith('UNEXPLAINED')).join('\n# ')}\n`);
      assert.equal(code, 0, out);
      const summary = /examples: (\d+) \((\d+) distinct\), agreed: (\d+), deliberate differences: (\d+), unexplained: (\d+)/.exec(out);
      assert.ok(summary, out);
      assert.equal(Number(summary[1]), examples);
      assert.equal(Number(summary[5]), 0);
      // The run must exercise both sides: requests both parsers accept and compare, and ones both refuse.
      assert.match(out, /unicorn accept \/ h11 accept: [1-9]/);
      assert.match(out, /unicorn reject \/ h11 reject: [1-9]/);
    });
  });
}
