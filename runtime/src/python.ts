// Which Python runs the workers, and running the small Python helpers the arbiter needs.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CliError, EXIT } from './core/errors';

/** dist/runtime/python when bundled (this file is inlined into dist/runtime/cli.js). */
export const PYTHON_DIR = path.join(__dirname, 'python');

/**
 * The interpreter: the `python` setting, else the active virtualenv, else `.venv` in the
 * directory, else python3 from PATH.
 */
export function resolvePython(setting: unknown, dir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof setting === 'string' && setting !== '') return setting;
  const candidates = [
    env.VIRTUAL_ENV ? path.join(env.VIRTUAL_ENV, 'bin', 'python') : undefined,
    path.join(dir, '.venv', 'bin', 'python'),
  ];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return 'python3';
}

/** Runs `python PYTHON_DIR/unicorn_config.py VERB ARG` and returns its JSON answer. */
export function runConfigHelper(
  python: string,
  verb: 'load' | 'django-settings' | 'check-app' | 'owner',
  arg: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      python,
      [path.join(PYTHON_DIR, 'unicorn_config.py'), verb, arg],
      { cwd, env, timeout: 30000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new CliError(`python interpreter "${python}" not found — install Python 3.8+ or name one with --python PATH`));
          return;
        }
        let answer: Record<string, unknown>;
        try {
          answer = JSON.parse(stdout);
        } catch {
          reject(new CliError(`"${python}" could not evaluate ${arg}: ${(stderr || String(err)).trim().split('\n').pop()} — check that it is CPython 3.8 or newer`));
          return;
        }
        // What the config file itself printed is the user's output: pass it on.
        if (stderr) process.stderr.write(stderr);
        resolve(answer);
      },
    );
  });
}

export interface DescribedSocket {
  fd: number;
  kind: 'tcp' | 'unix';
  host?: string;
  port?: number;
  path?: string;
}

/**
 * Runs `python PYTHON_DIR/unicorn_config.py VERB ARG` with the socket descriptors `fds` mapped to the
 * same numbers in the child (the helpers that act on sockets Node cannot: getsockname of a bare fd, listen()).
 */
function runFdHelper(python: string, verb: string, arg: string, fds: number[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'];
    for (const fd of fds) stdio[fd] = fd;
    for (let i = 3; i < stdio.length; i++) if (stdio[i] === undefined) stdio[i] = 'ignore';
    const child = spawn(python, [path.join(PYTHON_DIR, 'unicorn_config.py'), verb, arg], { stdio });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new CliError(`python interpreter "${python}" could not run: ${e.message} — name one with --python PATH`)));
    child.on('close', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new CliError(`"${python}" could not run its socket helper (${verb}): ${err.trim().split('\n').pop()}`));
      }
    });
  });
}

/**
 * Asks Python what inherited socket descriptors are (Node has no getsockname for a bare fd): used for
 * systemd socket activation and fd://N.
 */
export async function describeFds(python: string, fds: number[]): Promise<DescribedSocket[]> {
  const answer = await runFdHelper(python, 'describe-fds', fds.join(','), fds);
  if (answer.error) throw new CliError(`inherited sockets: ${answer.error} — pass listening stream sockets`, EXIT.FAILURE);
  return answer.sockets as DescribedSocket[];
}

/**
 * listen(backlog) on bound sockets. Node can only listen() by accepting (libuv would take every
 * connection); Python can listen without accepting, and the socket is shared, so it stays listening for
 * the arbiter and the workers: connections made while the workers boot wait in the backlog.
 */
export async function listenFds(python: string, fds: number[], backlog: number): Promise<void> {
  const answer = await runFdHelper(python, 'listen-fds', JSON.stringify({ fds, backlog }), fds);
  if (answer.error) throw new CliError(`listen: ${answer.error}`, EXIT.FAILURE);
}
