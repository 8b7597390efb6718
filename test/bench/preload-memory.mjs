// npm run bench:memory — memory per worker for the Django example, with and without preloading,
// Unicorn beside gunicorn (Debian python3-gunicorn), same interpreter, same worker count.
// RSS counts every page a process maps, shared ones included; PSS divides shared pages among the
// processes sharing them, so it shows what copy-on-write saves. Not a test: it prints a table.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROJECT = path.join(ROOT, 'examples', 'djangoproject');
const PYTHON = '/usr/bin/python3';
const WORKERS = 4;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function get(port, p = '/') {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' }, () => sock.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let out = '';
    sock.on('data', (d) => (out += d));
    sock.on('close', () => resolve(out.startsWith('HTTP/1.1 200')));
    sock.on('error', () => resolve(false));
  });
}

/** Every process in the group, from /proc. */
function groupPids(pgid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) {
        out.push({ pid: Number(d), ppid: Number(fields[1]), cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ') });
      }
    } catch {
      /* gone */
    }
  }
  return out;
}

function memory(pid) {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
  return { rss: kb('Rss'), pss: kb('Pss') };
}

async function measure(label, cmd, args, isWorker) {
  const port = await freePort();
  const proc = spawn(cmd, [...args, '-b', `127.0.0.1:${port}`], { cwd: PROJECT, detached: true, stdio: 'ignore' });
  try {
    const deadline = Date.now() + 30000;
    while (!(await get(port))) {
      if (Date.now() > deadline) throw new Error(`${label} did not answer`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let every worker serve a few requests, so each has touched what a request touches.
    for (let i = 0; i < 200; i++) await get(port, i % 2 ? '/' : '/api/info');
    await new Promise((r) => setTimeout(r, 1000));
    const workers = groupPids(proc.pid).filter((p) => isWorker(p)).map((p) => memory(p.pid));
    const all = groupPids(proc.pid).map((p) => memory(p.pid));
    const avg = (xs, k) => xs.reduce((n, x) => n + x[k], 0) / xs.length / 1024;
    return { label, n: workers.length, rss: avg(workers, 'rss'), pss: avg(workers, 'pss'), totalPss: all.reduce((n, x) => n + x.pss, 0) / 1024 };
  } finally {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

const unicorn = [path.join(ROOT, 'runtime', 'bin', 'unicorn-django.js'), '--python', PYTHON, '-w', String(WORKERS)];
const gunicorn = ['-m', 'gunicorn', '-w', String(WORKERS), 'mysite.wsgi:application'];
// Unicorn's workers run unicorn_worker_main.py; with --preload they are the children of the
// preloading process (which the arbiter started) and keep its command line. gunicorn's master is
// the group leader and every other gunicorn process is a worker.
const unicornWorker = (p) => {
  if (!p.cmd.includes('unicorn_worker_main.py')) return false;
  if (!p.cmd.includes('--zygote')) return true;
  try {
    return fs.readFileSync(`/proc/${p.ppid}/cmdline`, 'utf8').includes('--zygote'); // forked by it
  } catch {
    return false;
  }
};
const gunicornWorker = (leader) => (p) => p.cmd.includes('gunicorn') && p.pid !== leader;

const rows = [];
rows.push(await measure('unicorn', process.execPath, unicorn, unicornWorker));
rows.push(await measure('unicorn --preload', process.execPath, [...unicorn, '--preload'], unicornWorker));
let haveGunicorn = true;
try {
  fs.accessSync('/usr/lib/python3/dist-packages/gunicorn');
} catch {
  haveGunicorn = false;
}
if (haveGunicorn) {
  for (const [label, extra] of [['gunicorn', []], ['gunicorn --preload', ['--preload']]]) {
    let leader = 0;
    const row = await measure(label, PYTHON, [...gunicorn, ...extra], (p) => {
      if (!leader) leader = Math.min(...groupPids(p.pid).map((x) => x.pid));
      return gunicornWorker(leader)(p);
    });
    rows.push(row);
  }
} else {
  console.log('(gunicorn is not installed for /usr/bin/python3: apt install python3-gunicorn for its rows)');
}

console.log(`Django example (examples/djangoproject), ${WORKERS} workers, ${PYTHON}, after 200 requests; MiB`);
console.log('server               workers  RSS/worker  PSS/worker  PSS all processes');
for (const r of rows) {
  console.log(`${r.label.padEnd(20)} ${String(r.n).padStart(7)}  ${r.rss.toFixed(1).padStart(10)}  ${r.pss.toFixed(1).padStart(10)}  ${r.totalPss.toFixed(1).padStart(17)}`);
}
