// `npm run bench:instructions`: what one request costs a worker in machine instructions, counted by callgrind
// (Debian's valgrind), for this checkout and, with --base-tree DIR, another one side by side. Not a test.
//
// Why: CPU time per request on this shared machine moves ±15 % from one run to the next (and between two
// identical servers loaded at the same time), so `npm run bench` cannot show a change of a few per cent.
// Instructions executed in user space depend far less on the load than CPU time does. (The kernel's share —
// accept, recv, send, close — is not counted; strace shows whether that changed.)
//
// How: one server per tree and case, 1 worker, its interpreter (--python) a wrapper that runs /usr/bin/python3
// under callgrind. After a warm-up the worker's counters are zeroed (callgrind_control -z), N requests go one
// at a time, the counters are dumped (callgrind_control -d) and their total divided by N.
// Not exact: what the worker's loop does between two requests (a select that returns at once or waits, an
// accept that finds the next connection or EAGAIN, the ticks) depends on timing, so a tree's figure moved by up
// to 10 % between two runs here (one of them beside a test suite). Compare trees within one run, and repeat.
// For an exact figure of one piece, isolate it: `python3 test/bench/hotpath.py --instructions` counts the
// Python request path alone (no sockets, no timing), repeatable to ±10 instructions.
//
// The asgi cases (asgi-get: the raw ASGI hello, fastapi-get: the FastAPI JSON route, keep-alive) also count
// uvicorn (Debian's, uvloop + httptools, 1 process) the same way: the peer issue 12 measures against.
// --keep DIR keeps the callgrind dumps (callgrind_annotate DIR/<tree>-<case>/cg.<pid>.<n> shows where they go).
// --cache-sim adds callgrind's simulated L1 misses per request (instruction, data): where two servers run as many
// instructions, whether one touches more memory.
//
//   node test/bench/instructions.mjs [--base-tree DIR] [--requests 400] [--keep DIR] [--cache-sim]
//        [--cases sync-get,gthread-get,sync-post,gthread-post,asgi-get,fastapi-get]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, option } from './common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SYSTEM_PYTHON = '/usr/bin/python3';
const BASE_TREE = option('base-tree', undefined) && path.resolve(option('base-tree'));
const REQUESTS = Number(option('requests', '400'));
const CASES = option('cases', 'sync-get,gthread-get,sync-post,gthread-post').split(',');
const KEEP = option('keep', undefined) && path.resolve(option('keep'));
const CACHE_SIM = process.argv.includes('--cache-sim');
const POST_BYTES = 16 * 1024;
const BOOT_TIMEOUT_MS = 120_000; // a worker under callgrind boots some 50 times slower

const APPS = {
  hello: { dir: path.join(ROOT, 'examples'), spec: 'test:app' },
  echo: { dir: path.join(ROOT, 'test', 'bench', 'apps'), spec: 'echo:app' },
  asgiHello: { dir: path.join(ROOT, 'test', 'bench', 'apps'), spec: 'asgi_hello:app' },
  fastapi: { dir: path.join(ROOT, 'test', 'bench', 'apps'), spec: 'fastapi_json:app' },
};
const CASE = {
  'sync-get': { args: [], app: 'hello', post: false, keepAlive: false },
  'gthread-get': { args: ['-k', 'gthread', '--threads', '4'], app: 'hello', post: false, keepAlive: true },
  'sync-post': { args: [], app: 'echo', post: true, keepAlive: false },
  'gthread-post': { args: ['-k', 'gthread', '--threads', '4'], app: 'echo', post: true, keepAlive: true },
  'asgi-get': { args: ['-k', 'asgi'], app: 'asgiHello', post: false, keepAlive: true, peer: 'uvicorn' },
  'fastapi-get': { args: ['-k', 'asgi'], app: 'fastapi', post: false, keepAlive: true, peer: 'uvicorn' },
};

function fail(message) {
  console.error(`instructions: ${message}`);
  process.exit(1);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One request on `socket` (a fresh connection when not keep-alive); resolves when the whole answer is in. */
function request(port, c, socket) {
  return new Promise((resolve, reject) => {
    const body = c.post ? Buffer.alloc(POST_BYTES, 'x') : Buffer.alloc(0);
    const head = `${c.post ? 'POST' : 'GET'} / HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      (c.post ? `Content-Length: ${body.length}\r\n` : '') + (c.keepAlive ? '' : 'Connection: close\r\n') + '\r\n';
    const sock = socket ?? net.connect({ port, host: '127.0.0.1' });
    let got = Buffer.alloc(0);
    const onData = (d) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /\r\ncontent-length: *(\d+)/i.exec(got.subarray(0, end).toString('latin1'));
      const want = end + 4 + (m ? Number(m[1]) : 0);
      if (got.length >= want) done();
    };
    const done = () => {
      sock.off('data', onData);
      sock.off('error', reject);
      if (!got.subarray(0, 12).toString().includes(' 200')) return reject(new Error(`answer: ${got.subarray(0, 80)}`));
      if (!c.keepAlive) sock.destroy();
      resolve(sock);
    };
    sock.on('data', onData);
    sock.on('error', reject);
    sock.write(Buffer.concat([Buffer.from(head), body]));
  });
}

async function load(port, c, n) {
  let sock;
  for (let i = 0; i < n; i++) {
    const s = await request(port, c, c.keepAlive ? sock : undefined);
    sock = c.keepAlive ? s : undefined;
  }
  sock?.destroy();
}

function control(flag, pid) {
  const r = spawnSync('callgrind_control', [flag, String(pid)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) fail(`callgrind_control ${flag} ${pid}: ${r.stderr || r.stdout}`);
}

/** `tree`: a checkout whose unicorn serves the case, or 'uvicorn' (1 process, uvloop + httptools). */
async function measure(tree, name, work) {
  const c = CASE[name];
  const app = APPS[c.app];
  const wrapper = path.join(work, 'python');
  const outDir = path.join(work, `${path.basename(tree)}-${name}`);
  fs.mkdirSync(outDir);
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec valgrind --tool=callgrind ${CACHE_SIM ? '--cache-sim=yes ' : ''}--callgrind-out-file=${outDir}/cg.%p ${SYSTEM_PYTHON} "$@"\n`, { mode: 0o755 });
  const port = await freePort();
  const env = { ...process.env, PYTHONHASHSEED: '0' };
  for (const k of ['UNICORN_CMD_ARGS', 'GUNICORN_CMD_ARGS', 'WEB_CONCURRENCY', 'PYTHONPATH']) delete env[k];
  const child = tree === 'uvicorn'
    ? spawn(wrapper, ['-m', 'uvicorn', '--host', '127.0.0.1', '--port', String(port), '--loop', 'uvloop', '--http', 'httptools',
      '--no-access-log', '--app-dir', app.dir, app.spec], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [path.join(tree, 'runtime', 'bin', 'unicorn.js'), '-w', '1', '-t', '300',
      '-b', `127.0.0.1:${port}`, ...c.args, '--chdir', app.dir, '--python', wrapper, app.spec],
    { cwd: tree, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  try {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    for (;;) {
      if (Date.now() > deadline) fail(`${tree} ${name}: no answer within ${BOOT_TIMEOUT_MS} ms:\n${log.slice(-3000)}`);
      try {
        await request(port, c);
        break;
      } catch {
        await sleep(500);
      }
    }
    const pid = tree === 'uvicorn' ? child.pid : Number(/Booting worker with pid: (\d+)/.exec(log)?.[1]);
    if (!pid) fail(`no worker pid in the log:\n${log}`);
    await load(port, c, 50); // warm-up
    control('-z', pid);
    await load(port, c, REQUESTS);
    control('-d', pid);
    const dumps = fs.readdirSync(outDir).filter((f) => f.startsWith(`cg.${pid}.`));
    if (!dumps.length) fail(`no callgrind dump for ${pid} in ${outDir}`);
    const text = fs.readFileSync(path.join(outDir, dumps.sort().at(-1)), 'utf8');
    const events = /^events: (.+)$/m.exec(text)?.[1].trim().split(/\s+/) ?? [];
    const totals = /^(?:summary|totals): (.+)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number) ?? [];
    const per = (event) => totals[events.indexOf(event)] / REQUESTS;
    if (!per('Ir')) fail(`no totals in the dump ${dumps.at(-1)}`);
    if (KEEP) fs.cpSync(outDir, path.join(KEEP, path.basename(outDir)), { recursive: true });
    return { ir: per('Ir'), misses: CACHE_SIM ? ` (L1 misses: I ${per('I1mr').toFixed(0)}, D ${(per('D1mr') + per('D1mw')).toFixed(0)})` : '' };
  } finally {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function main() {
  if (spawnSync('valgrind', ['--version']).error) fail('valgrind not found — install it with: apt-get install -y valgrind');
  const unknown = CASES.filter((c) => !CASE[c]);
  if (unknown.length) fail(`unknown case ${unknown.join(', ')} — use ${Object.keys(CASE).join(', ')}`);
  const trees = BASE_TREE ? [['base', BASE_TREE], ['this', ROOT]] : [['this', ROOT]];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-instructions-'));
  try {
    console.log(`user-space machine instructions per request in the worker (callgrind), ${REQUESTS} requests one at a time, 1 worker`);
    for (const name of CASES) {
      const runs = [];
      for (const [, tree] of trees) runs.push(await measure(tree, name, work));
      const counts = runs.map((r) => r.ir);
      const ratio = counts.length > 1 ? `  this/base ${(counts[1] / counts[0]).toFixed(4)} (${counts[1] - counts[0] >= 0 ? '+' : ''}${(counts[1] - counts[0]).toFixed(0)})` : '';
      let peer = '';
      if (CASE[name].peer) {
        const p = await measure(CASE[name].peer, name, work);
        peer = `  ${CASE[name].peer} ${p.ir.toFixed(0)}${p.misses}  this/${CASE[name].peer} ${(counts.at(-1) / p.ir).toFixed(4)}`;
      }
      console.log(`${name.padEnd(13)} ${runs.map((r, i) => `${trees[i][0]} ${r.ir.toFixed(0)}${r.misses}`).join('  ')}${ratio}${peer}`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => fail(e.stack ?? String(e)));
