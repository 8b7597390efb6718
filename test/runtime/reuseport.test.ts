// reuse_port through the real CLI: two servers share one port with --reuse-port; without it the second is refused.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, get, runCli, startServer, waitUntil } from '../helpers';

describe('reuse_port', () => {
  test('two servers with --reuse-port on the same port both serve', async () => {
    const port = await freePort();
    const args = ['-b', `127.0.0.1:${port}`, '--reuse-port', '--access-logfile', '-', '--access-logformat', 'served %(U)s',
      '--chdir', 'test/fixtures/apps', 'echo_app'];
    const first = await startServer(args, { noBind: true, port });
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      second = await startServer(args, { noBind: true, port });
      // The kernel spreads new connections over both servers' sockets: each one answers some.
      const served = (out: string) => (out.match(/^served \/n\d+$/gm) ?? []).length;
      let n = 0;
      await waitUntil(async () => {
        assert.equal((await get(port, `/n${n++}`)).status, 200);
        return served(first.output()) > 0 && served(second!.output()) > 0;
      }, 20000, 'both servers to serve');
      assert.match(second.output(), new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} `));
    } finally {
      await second?.stop();
      await first.stop();
    }
  });

  test('without it, the second server is refused with the address-in-use error', async () => {
    const port = await freePort();
    const first = await startServer(['-b', `127.0.0.1:${port}`, '--chdir', 'test/fixtures/apps', 'echo_app'], { noBind: true, port });
    try {
      // Both wait out the bind retries, so they run side by side. The second shows that one with
      // --reuse-port cannot join a socket that was bound without it.
      const [r, late] = await Promise.all([
        runCli(['-b', `127.0.0.1:${port}`, '--chdir', 'test/fixtures/apps', 'echo_app'], { timeoutMs: 30000 }),
        runCli(['-b', `127.0.0.1:${port}`, '--reuse-port', '--chdir', 'test/fixtures/apps', 'echo_app'], { timeoutMs: 30000 }),
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`bind "127\\.0\\.0\\.1:${port}": address already in use — stop the other server on it or choose another port with -b`));
      assert.equal(late.code, 1);
      assert.match(late.stderr, /address already in use/);
    } finally {
      await first.stop();
    }
  });
});
