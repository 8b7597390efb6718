// `unicorn ctl COMMAND`: the command-line client of a running server's control socket.
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { UntrustedPeer, checkRuntimeDir, request } from './control';
import {
  COMMANDS, ControlCommand, ControlRequest, ControlResults, FocusResult, ServerStatus, controlSocketPath, runtimeDir,
} from './core/control-protocol';
import { CliError, EXIT } from './core/errors';

/** Each command's argument and what it does; typed by the protocol's command list, so none is missing. */
const HELP: { [C in ControlCommand]: [string, string] } = {
  status: ['', 'the master and every worker: state, requests, current request, memory'],
  add: ['[N]', 'N more workers (default 1)'],
  remove: ['[N]', 'N fewer workers (default 1; at least one stays)'],
  reload: ['', 're-read the config and replace the workers gracefully (as HUP)'],
  stop: ['', 'graceful stop (as TERM)'],
  kill: ['PID', 'kill one worker; the arbiter replaces it'],
  debug: ['PID', 'start a debugpy listener in that worker and print its port'],
  focus: ['PID', 'only that worker takes new connections (the others stop accepting): for debugging it'],
  unfocus: ['[PID]', 'take the focus off that worker (default: all); with none focused, all accept again'],
  metrics: ['', 'the figures of /metrics, in Prometheus text (--json: structured)'],
};

const USAGE = `usage: unicorn ctl [--socket PATH | -p PIDFILE] [--json] COMMAND [ARG]

commands:
${COMMANDS.map((c) => `  ${`${c} ${HELP[c][0]}`.padEnd(16)}${HELP[c][1]}`).join('\n')}

Without --socket or -p, finds the one server running for this user.
`;

/** The socket of the only live server in the per-user runtime directory. */
function discover(): string {
  const dir = runtimeDir();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => /^\d+\.ctl$/.test(n));
  } catch {
    /* no directory: no server */
  }
  if (names.length) {
    try {
      checkRuntimeDir(dir);
    } catch (e) {
      throw new CliError(`ctl: ${(e as Error).message}`);
    }
  }
  const live = names.filter((n) => {
    try {
      process.kill(Number(n.slice(0, -4)), 0);
      return true;
    } catch {
      return false;
    }
  });
  if (live.length === 1) return path.join(dir, live[0]);
  if (!live.length) throw new CliError(`ctl: no running unicorn server found in ${dir} — start one, or give --socket PATH or -p PIDFILE`);
  throw new CliError(`ctl: ${live.length} servers are running (pids ${live.map((n) => n.slice(0, -4)).join(', ')}) — choose one with --socket ${path.join(dir, 'PID.ctl')}`);
}

function positiveInt(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new CliError(`ctl: ${what} "${text}" is not a positive whole number`);
  return Number(text);
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${Math.floor(seconds % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

function mib(bytes: unknown): string {
  return typeof bytes === 'number' ? `${(bytes / 1048576).toFixed(1)} MiB` : '?';
}

function renderStatus(s: ServerStatus): string {
  const m = s.master;
  const lines = [
    `master ${m.pid}  ${m.app}  up ${duration(m.uptime)}  rss ${mib(m.rss)}  ${m.worker_class} workers ${s.workers.length}/${m.workers}  ${m.listeners.join(' ')}`,
  ];
  for (const w of s.workers) {
    const doing = w.request ? `${w.state} ${w.request.method} ${w.request.path} (${duration(w.request.age)})` : w.state;
    const debug = w.debug_port ? `  debug :${w.debug_port}${w.debugger_attached ? ' attached' : ''}` : '';
    lines.push(`  worker ${w.pid}  ${doing}  ${w.requests} requests  up ${duration(w.uptime)}  rss ${mib(w.rss)}${debug}`);
  }
  return lines.join('\n') + '\n';
}

/** One answer for a person; --json prints the result as it came. */
const RENDER: { [C in ControlCommand]: (result: ControlResults[C]) => string } = {
  status: renderStatus,
  add: (r) => `workers: ${r.workers}\n`,
  remove: (r) => `workers: ${r.workers}\n`,
  reload: () => 'reloading\n',
  stop: () => 'stopping\n',
  kill: (r) => `killed worker ${r.killed}\n`,
  debug: (r) => `worker ${r.pid}: debugpy listening on 127.0.0.1:${r.port}\n`,
  focus: renderFocus,
  unfocus: renderFocus,
  metrics: (r) => r.text,
};

function renderFocus(r: FocusResult): string {
  return `focus: ${r.focus.join(', ') || 'none'}; accepting: ${r.accepting.join(', ')}\n`;
}

function render<C extends ControlCommand>(command: C, result: ControlResults[C]): string {
  return RENDER[command](result);
}

export async function runCtl(argv: string[]): Promise<number> {
  const cmd = new Command('unicorn ctl')
    .helpOption(false)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .option('-h, --help')
    .option('--socket <PATH>')
    .option('-p, --pid <PIDFILE>')
    .option('--json')
    .argument('[COMMAND]')
    .argument('[ARG]');
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new CliError(`ctl: ${e.message.replace(/^error:\s*/, '')} — see unicorn ctl --help`);
    throw e;
  }
  const opts = cmd.opts();
  const [command, arg] = cmd.args as [string | undefined, string | undefined];
  if (opts.help) {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (!command) throw new CliError(`ctl: no command — give one of ${COMMANDS.join(', ')}`);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CliError(`ctl: unknown command "${command}" — use one of ${COMMANDS.join(', ')}`);
  }
  const req: ControlRequest = { command: command as ControlCommand };
  if (command === 'add' || command === 'remove') req.count = positiveInt(arg, 'count');
  if (command === 'unfocus' && arg !== undefined) req.pid = positiveInt(arg, 'pid');
  if (command === 'kill' || command === 'debug' || command === 'focus') {
    if (arg === undefined) throw new CliError(`ctl: ${command} needs a worker pid — see unicorn ctl status`);
    req.pid = positiveInt(arg, 'pid');
  }
  const socketPath = opts.socket ? path.resolve(opts.socket) : opts.pid ? controlSocketPath(null, opts.pid) : discover();
  let answer;
  try {
    answer = await request(socketPath, req, 20000, {});
  } catch (e) {
    if (e instanceof UntrustedPeer) throw new CliError(`ctl: ${e.message}`, EXIT.FAILURE);
    throw new CliError(`ctl: cannot reach ${socketPath}: ${(e as Error).message} — is the server running?`, EXIT.FAILURE);
  }
  if (!answer.ok) {
    if (opts.json) process.stdout.write(JSON.stringify(answer) + '\n');
    throw new CliError(`ctl: ${command}: ${answer.error}`, EXIT.FAILURE);
  }
  process.stdout.write(opts.json ? JSON.stringify(answer.result) + '\n' : render(req.command, answer.result));
  return EXIT.OK;
}
