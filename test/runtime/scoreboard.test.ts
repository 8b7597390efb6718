// The scoreboard across the process boundary: the worker's writer (runtime/python/unicorn_worker/scoreboard.py)
// storing into its mapped slot as fast as it can, while the arbiter's reader (runtime/src/scoreboard.ts) reads
// the file from another process, as the watchdog, `unicorn ctl` and /metrics do. No read may ever catch a
// half-written slot: a heartbeat read as 0 once made the watchdog kill a healthy worker under load.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, SYSTEM_PYTHON } from '../helpers';
import { Scoreboard } from '../../runtime/src/scoreboard';

// Every store a worker makes on its request path, in a loop, until stdin closes (or 20 s: bounded).
const WRITER = `
import os, sys, select, time
sys.path.insert(0, sys.argv[1])
from unicorn_worker.scoreboard import Scoreboard
class Req(object):
    method = "GET"
    path = "/items/42"
board = Scoreboard(sys.argv[2], int(sys.argv[3]))
board.idle(0)
print("ready", flush=True)
end = time.monotonic() + 20
i = 0
while time.monotonic() < end:
    for _ in range(2000):
        i += 1
        board.busy(Req())
        board.heartbeat()
        board.connections(i % 7)
        board.record(200, 0.001, 100)
        board.idle(i)
    if select.select([sys.stdin], [], [], 0)[0]:
        break
`;

describe('scoreboard: the arbiter reads while a worker writes', () => {
  test('no read sees a half-written slot (pid, state, heartbeat, boot time are always whole)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-board-'));
    const board = new Scoreboard(dir);
    const slot = board.allocate();
    const writer = spawn(SYSTEM_PYTHON, ['-c', WRITER, path.join(ROOT, 'runtime', 'python'), board.path, String(slot)], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stdout!.once('data', (d: Buffer) => (d.toString().startsWith('ready') ? resolve() : reject(new Error(`writer said ${d}`))));
        writer.once('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready`)));
      });
      const bad: string[] = [];
      let reads = 0;
      let sawBusy = 0;
      // (A tight synchronous loop on purpose: as many reads as possible while the writer runs on the other core.)
      const until = Date.now() + 1500;
      while (Date.now() < until && reads < 2_000_000) {
        const s = board.read().get(slot)!;
        reads++;
        if (s.state === 'busy') sawBusy++;
        if (s.pid !== writer.pid || (s.state !== 'idle' && s.state !== 'busy') || !(s.heartbeat > 1e9) || !(s.bootedAt > 1e9)) {
          if (bad.length < 5) bad.push(JSON.stringify({ pid: s.pid, state: s.state, heartbeat: s.heartbeat, bootedAt: s.bootedAt }));
          else bad.push('');
        }
      }
      assert.ok(reads > 1000 && sawBusy > 0, `the reads overlapped the writes: ${reads} reads, ${sawBusy} busy`);
      assert.equal(bad.length, 0, `${bad.length} of ${reads} reads saw a torn slot, e.g. ${bad.slice(0, 5).join(' ')}`);
    } finally {
      writer.stdin!.end();
      if (writer.exitCode === null) await new Promise((resolve) => writer.once('exit', resolve));
      board.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
