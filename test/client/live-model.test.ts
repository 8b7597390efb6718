// The live view's numbers from successive status answers: requests per second from the counters,
// busy state, memory, the listen queue, and a bounded history.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerStatus, WorkerStatus } from '../../runtime/src/core/control-protocol';
import { LiveModel } from '../../client/src/live-model';

function worker(pid: number, requests: number, state: WorkerStatus['state'] = 'idle', rss: number | null = 10 * 1024 * 1024): WorkerStatus {
  return { pid, id: pid, slot: pid, state, requests, connections: 0, heartbeat_age: 0, uptime: 1, rss, request: null, debug_port: null, debugger_attached: false, accepting: true };
}

function status(workers: WorkerStatus[], queued: number | null = 0): ServerStatus {
  return {
    master: { pid: 1, name: 'Master', focus: [], app: 'app:app', python: 'python3', worker_class: 'sync', workers: workers.length, listeners: ['http://127.0.0.1:8000'], uptime: 1, rss: 1, timeout: 30, reloading: false,
      listen_queue: [{ url: 'http://127.0.0.1:8000', queued, backlog: 2048 }] },
    workers,
  };
}

test('requests per second from the counters over the time between samples; busy, memory and the queue per sample', () => {
  const m = new LiveModel();
  m.push(status([worker(10, 0), worker(11, 5)]), 0);
  m.push(status([worker(10, 20, 'busy'), worker(11, 5)], 3), 2000);
  m.push(status([worker(10, 20), worker(11, 35, 'idle', null)], 1), 3000);
  const s = m.snapshot()!;
  assert.deepEqual(s.times, [0, 2, 3]);
  assert.deepEqual(s.workers.map((w) => w.pid), [10, 11]);
  assert.deepEqual(s.workers[0].rps, [null, 10, 0]);
  assert.deepEqual(s.workers[1].rps, [null, 0, 30]);
  assert.deepEqual(s.workers[0].busy, [false, true, false]);
  assert.deepEqual(s.workers[1].rssMb, [10, 10, null]);
  assert.deepEqual(s.queue, [0, 3, 1]);
  assert.deepEqual(s.now, { rps: 30, busy: 0, workers: 2, queue: 1 });
  assert.equal(s.backlog, 2048);
});

test('a replaced worker keeps its history (gaps where it was not); the new one starts without a rate', () => {
  const m = new LiveModel();
  m.push(status([worker(10, 0)]), 0);
  m.push(status([worker(10, 4)]), 1000);
  m.push(status([worker(12, 0)]), 2000);
  m.push(status([worker(12, 2)]), 3000);
  const s = m.snapshot()!;
  assert.deepEqual(s.workers.map((w) => w.pid), [12, 10], 'the current workers first');
  assert.deepEqual(s.workers[0].rps, [null, null, null, 2]);
  assert.deepEqual(s.workers[1].rps, [null, 4, null, null]);
});

test('the history is bounded: the oldest samples go', () => {
  const m = new LiveModel(3);
  for (let i = 0; i < 5; i++) m.push(status([worker(10, i)]), i * 1000);
  assert.equal(m.size, 3);
  assert.deepEqual(m.snapshot()!.times, [0, 1, 2]);
  assert.equal(new LiveModel().snapshot(), undefined);
});
