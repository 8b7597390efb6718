// Discovery of the servers the tree shows: control sockets beside pid files and in the per-user
// runtime directory, only this user's (a socket or runtime directory another user could have
// planted is never talked to), and DiscoveredServer speaking to a real server's control socket.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { DiscoveredServer, discoverControlSockets, ownedByUser } from '../../client/src/discovery';
import { FIXTURES, SYSTEM_PYTHON, startServer, waitUntil } from '../helpers';

const servers: net.Server[] = [];
after(() => servers.forEach((s) => s.close()));

function listen(file: string): Promise<void> {
  const s = net.createServer((c) => c.end());
  servers.push(s);
  return new Promise((resolve) => s.listen(file, () => resolve()));
}

test('sockets beside pid files and in the runtime directory; not files, not others\' sockets, not a directory others can write', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-disc-'));
  const workspace = path.join(root, 'ws');
  const runtime = path.join(root, 'run');
  fs.mkdirSync(workspace);
  fs.mkdirSync(runtime, { mode: 0o700 });
  fs.writeFileSync(path.join(workspace, 'app.pid'), '123\n');
  await listen(path.join(workspace, 'app.ctl'));
  fs.writeFileSync(path.join(workspace, 'stale.pid'), '124\n'); // no socket beside it
  await listen(path.join(runtime, '200.ctl'));
  await listen(path.join(runtime, 'vscode-unicorn-1-1.ctl')); // another window's server
  fs.writeFileSync(path.join(runtime, '201.ctl'), ''); // a file, not a socket
  await listen(path.join(runtime, '202.ctl'));
  fs.chownSync(path.join(runtime, '202.ctl'), 65534, 65534); // someone else's (the tests run as root)
  const pidFiles = [path.join(workspace, 'app.pid'), path.join(workspace, 'stale.pid')];
  assert.deepEqual(discoverControlSockets(pidFiles, runtime), [
    path.join(workspace, 'app.ctl'), path.join(runtime, '200.ctl'), path.join(runtime, 'vscode-unicorn-1-1.ctl'),
  ]);
  // A runtime directory others may write to could hold anybody's socket: none of it is trusted.
  fs.chmodSync(runtime, 0o777);
  assert.equal(ownedByUser(runtime, true), false);
  assert.deepEqual(discoverControlSockets(pidFiles, runtime), [path.join(workspace, 'app.ctl')]);
  assert.deepEqual(discoverControlSockets([], path.join(root, 'missing')), []);
  fs.rmSync(root, { recursive: true, force: true });
});

test('a DiscoveredServer follows a real server: status, a command, and not running once it is gone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-disc-srv-'));
  const socket = path.join(dir, 'c.ctl');
  const s = await startServer(['--chdir', path.join(FIXTURES, 'arbiter'), '-w', '1', '--control-socket', socket, 'app:app'], { python: SYSTEM_PYTHON });
  const found = new DiscoveredServer(socket);
  await waitUntil(async () => (await found.refreshStatus())?.workers.length === 1, 15000, 'status through the discovered socket');
  assert.equal(found.pid, s.pid);
  assert.equal(found.url, s.url);
  assert.deepEqual(await found.control({ command: 'add' }), { workers: 2 });
  await found.stop(20000);
  assert.equal(found.running, false);
  assert.equal(await found.refreshStatus(), undefined);
  await s.exited(20000);
  fs.rmSync(dir, { recursive: true, force: true });
});
