// The test helpers' own promise: every server they start dies with the test process that started it,
// however that process ends (SIGKILL included, where no handler of its own runs), so a killed test
// run leaves no server behind.
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, childPids, isAlive, killGroup, waitUntil } from '../helpers';

const HOLD = path.join(FIXTURES, 'hygiene', 'hold-server.ts');

function gone(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); // a zombie: exited, not yet reaped
  } catch {
    return !isAlive(pid);
  }
}

const cases: Array<[string, NodeJS.Signals]> = [['startServer', 'SIGKILL'], ['startServer', 'SIGTERM'], ['runCli', 'SIGKILL']];
for (const [helper, signal] of cases) {
  test(`a server started by ${helper} goes when its test process gets ${signal}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-hygiene-'));
    const holder = spawn(process.execPath, ['--import', 'tsx', HOLD, helper, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    holder.stdout.on('data', (d) => (out += d));
    holder.stderr.on('data', (d) => (out += d));
    let pid = 0;
    try {
      await waitUntil(() => out.includes('\n') || holder.exitCode !== null, 30000, 'the holder to start its server');
      const said = JSON.parse(out.split('\n')[0]) as { pid?: number; pidfile?: string };
      if (said.pidfile) {
        await waitUntil(() => fs.existsSync(said.pidfile!) && fs.readFileSync(said.pidfile!, 'utf8').trim() !== '', 20000, 'the pid file');
        pid = Number(fs.readFileSync(said.pidfile, 'utf8'));
      } else pid = said.pid!;
      await waitUntil(() => childPids(pid).length === 2, 20000, 'two workers');
      const workers = childPids(pid);
      holder.kill(signal);
      await waitUntil(() => [pid, ...workers].every(gone), 20000, `the arbiter ${pid} and its workers ${workers} to go`);
    } finally {
      holder.kill('SIGKILL');
      if (pid) killGroup(pid, 'SIGKILL');
    }
  });
}
