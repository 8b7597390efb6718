// statsd through the real CLI: a UDP listener on 127.0.0.1 receives gunicorn's metric names.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { get, runCli, startServer, waitUntil } from '../helpers';

/** A UDP socket on a free loopback port that keeps every metric line it receives. */
async function listen(): Promise<{ port: number; lines: string[]; close(): void }> {
  const sock = dgram.createSocket('udp4');
  const lines: string[] = [];
  sock.on('message', (m) => lines.push(...m.toString('ascii').split('\n')));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, lines, close: () => sock.close() };
}

describe('statsd metrics', () => {
  let udp: Awaited<ReturnType<typeof listen>>;
  before(async () => {
    udp = await listen();
  });
  after(() => udp.close());

  for (const klass of ['sync', 'gthread']) {
    test(`${klass}: per-request counters and timer, the workers gauge, with the prefix and DogStatsD tags`, async () => {
      udp.lines.length = 0;
      const server = await startServer(['-k', klass, '-w', '2', '--statsd-host', `127.0.0.1:${udp.port}`, '--statsd-prefix', 'app',
        '--dogstatsd-tags', 'env:test,team:web', '--chdir', 'examples', 'test:app']);
      try {
        await get(server.port, '/');
        await get(server.port, '/');
        await waitUntil(() => udp.lines.filter((l) => l.startsWith('app.gunicorn.requests:')).length >= 3, 5000, 'request metrics');
        const tags = '|#env:test,team:web';
        assert.ok(udp.lines.includes(`app.gunicorn.requests:1|c|@1.0${tags}`), udp.lines.join('\n'));
        assert.ok(udp.lines.includes(`app.gunicorn.request.status.200:1|c|@1.0${tags}`), udp.lines.join('\n'));
        const timers = udp.lines.filter((l) => l.startsWith('app.gunicorn.request.duration:'));
        assert.ok(timers.length >= 3);
        for (const t of timers) assert.match(t, new RegExp(`^app\\.gunicorn\\.request\\.duration:\\d+(\\.\\d+)?(e-\\d+)?\\|ms\\|#env:test,team:web$`));
        await waitUntil(() => udp.lines.includes(`app.gunicorn.workers:2|g${tags}`), 5000, 'the workers gauge');
        // TTIN: the gauge follows the number of workers.
        process.kill(server.pid, 'SIGTTIN');
        await waitUntil(() => udp.lines.includes(`app.gunicorn.workers:3|g${tags}`), 10000, 'the workers gauge at 3');
      } finally {
        await server.stop();
      }
    });
  }

  test('a 404 counts under its status; the prefix gets no second dot; error log lines are counted', async () => {
    udp.lines.length = 0;
    const server = await startServer(['--statsd-host', `127.0.0.1:${udp.port}`, '--statsd-prefix', 'svc.', '--chdir', 'test/fixtures/apps',
      'framing_app:app']);
    try {
      await get(server.port, '/no-such-path-here');
      await waitUntil(() => udp.lines.some((l) => /^svc\.gunicorn\.request\.status\.404:1\|c\|@1\.0$/.test(l)), 5000, 'a status counter');
      assert.ok(udp.lines.every((l) => l === '' || l.startsWith('svc.gunicorn.')), udp.lines.join('\n'));
      // The arbiter's own warnings count too: a worker killed under it is logged at warning level.
      const worker = Number((await server.waitForOutput(/Booting worker with pid: (\d+)/))[1]);
      process.kill(worker, 'SIGKILL');
      await waitUntil(() => udp.lines.includes('svc.gunicorn.log.warning:1|c|@1.0'), 5000, 'the warning counter');
    } finally {
      await server.stop();
    }
  });

  test('statsd_host is validated', async () => {
    let r = await runCli(['--statsd-host', 'localhost:notaport', 'test:app']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /statsd_host: "localhost:notaport" is not HOST:PORT — write it as localhost:8125/);
    r = await runCli(['--statsd-host', 'unix:/tmp/statsd.sock', 'test:app']);
    assert.match(r.stderr, /statsd_host: unix datagram sockets are not supported yet — give HOST:PORT/);
    r = await runCli(['--statsd-host', 'localhost', '--print-config', 'test:app']);
    assert.equal(r.code, 0, r.stderr);
  });
});
