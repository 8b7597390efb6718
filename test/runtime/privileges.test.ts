// user, group and initgroups through the real server: the workers (and so the app) run as that user,
// unix socket files belong to it, and unknown names are refused before anything starts. Needs root.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, ROOT, SYSTEM_PYTHON, Server, childPids, get, parseResponse, rawRequest, runCli, startServer, waitUntil } from '../helpers';

// The app, copied where every user can read it: the checkout itself may sit in a directory only root can enter
// (a clone into `mktemp -d`, mode 0700), and the workers import the app after switching to the user.
const APPS = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-privapps-'));
fs.chmodSync(APPS, 0o755);
fs.cpSync(path.join(FIXTURES, 'privileges'), APPS, { recursive: true });
// An interpreter every user can read (a pyenv one under /root would not be, once the workers switch).
const python = SYSTEM_PYTHON;
const root = process.geteuid?.() === 0;
const skip = root ? false : 'needs root to change users';
const started: Server[] = [];
after(async () => {
  for (const s of started) await s.stop('SIGKILL', 5000).catch(() => undefined);
  fs.rmSync(APPS, { recursive: true, force: true });
});

interface Ids {
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  groups: number[];
}

/** Real, effective, saved and filesystem ids from /proc/PID/status. */
function procIds(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (name: string) => (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: line('Uid'), gid: line('Gid'), groups: line('Groups') };
}

function idsOf(name: string): { uid: number; gid: number } | undefined {
  const entry = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  return entry ? { uid: Number(entry[2]), gid: Number(entry[3]) } : undefined;
}

async function ids(port: number): Promise<Ids> {
  const res = await get(port, '/ids');
  assert.equal(res.status, 200);
  return JSON.parse(res.body.toString()) as Ids;
}

/** A user listed as a member of some group in /etc/group (for initgroups), with that group's id. */
/**
 * A user of our own that belongs to a supplementary group of our own, removed again afterwards, so
 * that --initgroups has something to show on any machine (run as root, as this suite is).
 */
function withMemberOfAGroup(): { user: string; gid: number; remove: () => void } {
  const tag = `ucn${process.pid}`;
  execFileSync('groupadd', ['--system', `${tag}g`]);
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', `${tag}g`, `${tag}u`]);
  const gid = Number(fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${tag}g:`))!.split(':')[2]);
  return {
    user: `${tag}u`,
    gid,
    remove: () => {
      execFileSync('userdel', [`${tag}u`]);
      execFileSync('groupdel', [`${tag}g`]);
    },
  };
}

describe('user, group, initgroups', { skip }, () => {
  test('Unicorn installed where the new user cannot read it (a root-only home) still serves: the worker loop is imported before the switch', async () => {
    // A copy of the built CLI and runtime in a directory only root can enter (as an extension under
    // /root/.vscode would be); the app stays in a readable place, as the user's app must be.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-rootonly-'));
    fs.chmodSync(home, 0o700);
    fs.cpSync(path.join(ROOT, 'runtime', 'bin'), path.join(home, 'runtime', 'bin'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'dist', 'runtime'), path.join(home, 'dist', 'runtime'), { recursive: true });
    try {
      for (const klass of ['sync', 'gthread']) {
        const s = await startServer(['-u', 'nobody', '-g', 'nogroup', '-w', '1', '-k', klass, '--chdir', APPS, 'app:app'],
          { python, bin: path.join(home, 'runtime', 'bin', 'unicorn.js') });
        started.push(s);
        const got = await ids(s.port);
        assert.equal(got.euid, idsOf('nobody')!.uid, klass);
        await s.stop();
      }
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  test('workers run as nobody:nogroup, the app too; the unix socket and the log file belong to them', async () => {
    const nobody = idsOf('nobody')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-priv-'));
    const sock = path.join(dir, 'app.sock');
    const errorlog = path.join(dir, 'error.log');
    const s = await startServer(['-u', 'nobody', '-g', 'nogroup', '-w', '2', '-b', `unix:${sock}`, '--error-logfile', errorlog,
      '--chdir', APPS, 'app:app'], { python });
    started.push(s);
    await waitUntil(() => childPids(s.pid).length === 2, 10000, 'two workers');
    // A worker switches to the user early in its boot: startServer saw one answer, the other may still be
    // starting its interpreter (as root). Wait for that switch, the event asserted on, in both.
    await waitUntil(() => childPids(s.pid).every((pid) => procIds(pid).uid[0] === nobody.uid), 10000, 'both workers to switch to nobody');
    for (const pid of childPids(s.pid)) {
      const p = procIds(pid);
      assert.deepEqual(p.uid, [nobody.uid, nobody.uid, nobody.uid, nobody.uid], `worker ${pid} Uid`);
      assert.deepEqual(p.gid, [nobody.gid, nobody.gid, nobody.gid, nobody.gid], `worker ${pid} Gid`);
      assert.deepEqual(p.groups, [], 'no supplementary groups without initgroups');
    }
    assert.deepEqual(procIds(s.pid).uid[0], 0, 'the arbiter stays root');
    assert.deepEqual(await ids(s.port), { uid: nobody.uid, euid: nobody.uid, gid: nobody.gid, egid: nobody.gid, groups: [] });
    const st = fs.statSync(sock);
    assert.deepEqual([st.uid, st.gid], [nobody.uid, nobody.gid], 'the unix socket is given to the user');
    const overUnix = parseResponse(await rawRequest(sock, 'GET /ids HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    assert.equal(JSON.parse(overUnix.body.toString()).uid, nobody.uid);
    const log = fs.statSync(errorlog);
    assert.deepEqual([log.uid, log.gid], [nobody.uid, nobody.gid], 'the error log is given to the user, as gunicorn does');
    // USR1 reopens the logs in the workers as the user.
    for (const pid of childPids(s.pid)) process.kill(pid, 'SIGUSR1');
    assert.equal((await get(s.port, '/ids')).status, 200);
    assert.equal((await s.stop()).code, 0);
  });

  test('--preload: the app is imported once as root, the forked workers switch; numeric ids work', async () => {
    const nobody = idsOf('nobody')!;
    const s = await startServer(['--preload', '-k', 'gthread', '-u', String(nobody.uid), '-g', String(nobody.gid), '--chdir', APPS, 'app:app'], { python });
    started.push(s);
    let worker = 0;
    await waitUntil(() => {
      worker = childPids(s.pid).flatMap((z) => childPids(z))[0] ?? 0;
      return worker > 0;
    }, 10000, 'a preloaded worker');
    const zygote = childPids(s.pid).find((z) => childPids(z).includes(worker))!;
    assert.equal(procIds(zygote).uid[0], 0, 'the preloading process stays root, as gunicorn\'s master does');
    assert.deepEqual(procIds(worker).uid, [nobody.uid, nobody.uid, nobody.uid, nobody.uid]);
    assert.deepEqual(procIds(worker).gid, [nobody.gid, nobody.gid, nobody.gid, nobody.gid]);
    assert.deepEqual(await ids(s.port), { uid: nobody.uid, euid: nobody.uid, gid: nobody.gid, egid: nobody.gid, groups: [] });
    assert.equal((await s.stop()).code, 0);
  });

  test('--initgroups gives the workers the user\'s supplementary groups; a user alone runs with its primary group', async (t) => {
    const member = withMemberOfAGroup();
    t.after(member.remove);
    const own = idsOf(member.user)!;
    const s = await startServer(['-u', member.user, '--initgroups', '--chdir', APPS, 'app:app'], { python });
    started.push(s);
    const got = await ids(s.port);
    assert.deepEqual([got.uid, got.gid], [own.uid, own.gid], 'the primary group when no group is given');
    assert.ok(got.groups.includes(member.gid), `supplementary groups ${got.groups} include ${member.gid}`);
    await s.stop();

    const plain = await startServer(['-u', member.user, '--chdir', APPS, 'app:app'], { python });
    started.push(plain);
    assert.ok(!(await ids(plain.port)).groups.includes(member.gid), 'without --initgroups, no supplementary groups');
    await plain.stop();
  });

  test('an unknown user or group is refused before anything starts, with exit 2', async () => {
    const one = async (args: string[], expected: RegExp, cwd?: string) => {
      const r = await runCli([...args, '-b', '127.0.0.1:0', '--chdir', APPS, 'app:app'], { cwd, python });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), expected);
    };
    await one(['-u', 'no-such-user-here'], /^unicorn: error: command line: user: no such user: 'no-such-user-here' — give an existing user name or a numeric id$/);
    await one(['-u', 'nobody', '-g', 'no-such-group'], /^unicorn: error: command line: group: no such group: 'no-such-group' — give an existing group name or a numeric id$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unicorn-priv-conf-'));
    fs.writeFileSync(path.join(dir, 'gunicorn.conf.py'), 'user = "ghost-user"\n');
    await one([], /^unicorn: error: .*gunicorn\.conf\.py: user: no such user: 'ghost-user'/, dir);
  });
});
