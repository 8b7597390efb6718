// Entry point of `unicorn` and `unicorn-django`: resolve the settings, bind, run the arbiter.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Arbiter, Origin } from './arbiter';
import { runCtl } from './ctl';
import { HookError, HookHost, startHooks } from './hooks';
import { limitsFromEnv } from './core/kernel';
import { isCheckCommand, runCheck } from './check';
import { CliName } from './core/args';
import { Resolved, printConfig, resolveInvocation } from './config';
import { parseAddress } from './core/address';
import { CliError, EXIT } from './core/errors';
import {
  InheritedListener, Listener, adoptListeners, bindForSettings, closeAll, describeInherited,
  systemdListeners, tlsEnabled, useTlsUrls,
} from './listeners';
import { Logger } from './log';
import { arbiterLogSpec, syslogSpec } from './logconfig';
import { countLogLines } from './statsd';
import { readPidfile } from './pidfile';
import { runConfigHelper } from './python';
import { effectiveWorkerClass } from './core/settings';
import { SignalQueue } from './signals';

/** Fails early, with the fix, when the interpreter cannot be run at all. */
function checkInterpreter(python: string): void {
  const found = python.includes('/')
    ? fs.existsSync(python)
    : (process.env.PATH ?? '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, python)));
  if (!found) throw new CliError(`python interpreter "${python}" not found — install Python 3.8+ or name one with --python PATH`);
}

function checkPidfile(file: string | null): void {
  const pid = file ? readPidfile(file) : null;
  if (!pid || pid === process.pid) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // stale: the process is gone
  }
  throw new CliError(`pidfile ${file}: already running as pid ${pid} — stop it first, or remove the file if it is stale`, EXIT.FAILURE);
}

function checkTmpDir(dir: string | null): void {
  if (dir === null) return;
  try {
    if (!fs.statSync(dir).isDirectory()) throw new Error('not a directory');
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new CliError(`worker_tmp_dir: ${dir} is not a writable directory — create it, or give another with --worker-tmp-dir`);
  }
}

/**
 * TLS files exist (relative to chdir, as the workers open them) and OpenSSL takes them — checked here
 * so that a typo is one line and exit 2, not workers failing to boot.
 */
function checkTls(settings: Record<string, unknown>): void {
  if (!tlsEnabled(settings)) return;
  const dir = settings.chdir as string;
  const files: Record<string, Buffer> = {};
  for (const [name, flag] of [['certfile', '--certfile'], ['keyfile', '--keyfile'], ['ca_certs', '--ca-certs']]) {
    const given = settings[name] as string | null;
    if (!given) continue;
    const file = path.resolve(dir, given);
    try {
      files[name] = fs.readFileSync(file);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(e as Error).message})`;
      throw new CliError(`${name}: ${file} ${why} — give the path of a PEM file with ${flag}`);
    }
  }
  if (!files.certfile) throw new CliError('keyfile: set without certfile — give the certificate with --certfile (or one PEM file holding both to --certfile)');
  try {
    tls.createSecureContext({ cert: files.certfile, key: files.keyfile ?? files.certfile });
  } catch (e) {
    throw new CliError(`certfile ${settings.certfile}${files.keyfile ? `, keyfile ${settings.keyfile}` : ''}: OpenSSL cannot load them ` +
      `(${(e as Error).message}) — give a PEM certificate and its matching, unencrypted private key`);
  }
  if (files.ca_certs) {
    try {
      tls.createSecureContext({ ca: files.ca_certs });
    } catch (e) {
      throw new CliError(`ca_certs ${settings.ca_certs}: OpenSSL cannot load it (${(e as Error).message}) — give PEM CA certificates`);
    }
  }
  if (settings.ciphers) {
    try {
      tls.createSecureContext({ ciphers: settings.ciphers as string });
    } catch (e) {
      throw new CliError(`ciphers "${settings.ciphers}": ${(e as Error).message} — give an OpenSSL cipher list such as ECDHE+AESGCM`);
    }
  }
}

/** What must hold before anything is bound or detached: each failure is one line and exit 2 (or 1). */
function preflight(config: Resolved, origin: Origin): void {
  const settings = config.settings;
  if (!(settings.bind as string[]).length) throw new CliError('bind: no address given — give one with -b HOST:PORT');
  (settings.bind as string[]).forEach(parseAddress);
  checkInterpreter(config.python);
  checkTmpDir(settings.worker_tmp_dir as string | null);
  checkTls(settings);
  limitsFromEnv(origin.env); // a bad UNICORN_KERNEL_LIMITS is refused before anything is bound
  if (!origin.parentMasterPid) checkPidfile(settings.pidfile as string | null);
}

/**
 * -D: start this same command again in the background, in its own session with standard streams on
 * /dev/null, and return at once (gunicorn double-forks; Node cannot fork, so it re-executes).
 */
function daemonize(origin: Origin, inheritStdio: boolean): number {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...origin.argv], {
    cwd: origin.cwd,
    env: { ...origin.env, UNICORN_DAEMON: '1' },
    // enable_stdio_inheritance (-R): the terminal's streams stay; otherwise /dev/null, as gunicorn.
    stdio: inheritStdio ? 'inherit' : 'ignore',
    detached: true,
  });
  child.unref();
  return EXIT.OK;
}

async function serve(config: Resolved, origin: Origin): Promise<number> {
  const settings = config.settings;
  preflight(config, origin);
  if (settings.daemon && !daemonized) return daemonize(origin, Boolean(settings.enable_stdio_inheritance));
  if (daemonized) process.umask(0o22); // what gunicorn's daemonize sets
  const spec = arbiterLogSpec(settings);
  const log = new Logger(spec.target ?? (settings.errorlog as string), spec.level,
    { format: spec.format, datefmt: spec.datefmt, syslog: syslogSpec(settings, config.app, config.python) });
  for (const warning of config.warnings) log.warning(warning);
  countLogLines(log, settings); // statsd's gunicorn.log.* counters, when statsd_host is set
  const addresses = (settings.bind as string[]).map(parseAddress);
  let listeners: Listener[] = [];
  let arbiter: Arbiter | undefined;
  let hooks: HookHost | undefined;
  // Queueing signal handlers before any hook runs; the arbiter's loop acts on what they queued.
  const signals = new SignalQueue().install();
  try {
    hooks = await startHooks(config, origin);
    // on_starting runs before anything is bound; when it raises, gunicorn does not start, nor do we.
    await hooks.call('on_starting', { cfg: { ...settings, wsgi_app: config.app }, num_workers: settings.workers as number,
      proc_name: (settings.proc_name as string | null) ?? config.app, address: [], workers: [] });
    const activated = systemdListeners(origin.env);
    if (inheritedListeners) {
      // Started by USR2: the old master's sockets are fds 3…, already bound and listening.
      listeners = adoptListeners(inheritedListeners);
    } else if (activated.length) {
      log.info(`Using ${activated.length} socket(s) from systemd socket activation; bind is ignored`);
      listeners = activated;
    } else {
      listeners = await bindForSettings(addresses, config, {
        onRetry: (text) => {
          log.error(`Connection in use: ${text}`);
          log.error('Retrying in 1 second.');
        },
        onListenFailed: (message) => log.warning(message),
      });
    }
    await describeInherited(listeners, config.python);
    useTlsUrls(listeners, tlsEnabled(settings));
    arbiter = new Arbiter(config, listeners, log, origin, hooks, signals);
    return await arbiter.run();
  } catch (e) {
    if (!(e instanceof HookError)) throw e;
    log.error(e.message);
    throw new CliError(`the config file's ${e.hook === 'config' ? 'hooks could not be loaded' : `${e.hook} hook raised an exception`} — see the traceback above`, EXIT.FAILURE);
  } finally {
    if (!arbiter) {
      hooks?.close();
      signals.uninstall();
    }
    closeAll(arbiter?.currentListeners ?? listeners, arbiter?.ownsSocketFiles ?? !origin.parentMasterPid);
    log.close();
  }
}

/** Set when this process is a new master started by USR2 (see Arbiter.reexec). */
let inheritedListeners: InheritedListener[] | undefined;

/** Takes the USR2 hand-over variables out of the environment, so that nothing passes them on. */
/** Set in the background copy that -D started. */
let daemonized = false;

function takeHandover(env: NodeJS.ProcessEnv): number {
  daemonized = env.UNICORN_DAEMON === '1';
  delete env.UNICORN_DAEMON;
  const parent = Number(env.UNICORN_PID ?? 0);
  if (env.UNICORN_LISTENERS) inheritedListeners = JSON.parse(env.UNICORN_LISTENERS) as InheritedListener[];
  delete env.UNICORN_PID;
  delete env.UNICORN_LISTENERS;
  return Number.isInteger(parent) && parent > 0 && inheritedListeners ? parent : 0;
}

/** --check-config: the settings are valid (or we would not be here); now import the app once. */
async function checkConfig(config: Resolved): Promise<number> {
  checkInterpreter(config.python);
  checkTls(config.settings);
  const spec = JSON.stringify({
    app: config.app, chdir: config.chdir, pythonpath: config.pythonpath, worker_class: effectiveWorkerClass(config.settings),
  });
  const answer = await runConfigHelper(config.python, 'check-app', spec, config.chdir, { ...process.env, ...config.workerEnv });
  if (typeof answer.error === 'string' && answer.traceback === undefined) {
    throw new CliError(answer.error, EXIT.APP_LOAD);
  }
  if (typeof answer.error === 'string') {
    process.stderr.write(String(answer.traceback ?? ''));
    throw new CliError(`app "${config.app}" failed to load: ${answer.error} — fix the import, or the app name`, EXIT.APP_LOAD);
  }
  process.stdout.write(`configuration OK: ${config.configFile ?? 'no config file'}, app ${config.app} imports with ${config.python}\n`);
  return EXIT.OK;
}

export async function main(name: CliName, argv: string[]): Promise<void> {
  let code: number;
  const env = { ...process.env };
  const parentMasterPid = takeHandover(env);
  try {
    // `unicorn check` / `unicorn-django check` (first argument only) is the kernel-limits report; an
    // app in a module named check is served as `unicorn check:application` (or `unicorn check:app`).
    const subcommand = (name === 'unicorn' && argv[0] === 'ctl') || isCheckCommand(argv) ? argv[0] : null;
    const invocation = subcommand ? null : await resolveInvocation(name, argv, env);
    if (subcommand === 'ctl') {
      code = await runCtl(argv.slice(1));
    } else if (invocation === null) {
      code = await runCheck(name, argv.slice(1), env);
    } else if (invocation.kind !== 'run') {
      process.stdout.write(invocation.text);
      code = EXIT.OK;
    } else if (invocation.config.settings.print_config) {
      for (const warning of invocation.config.warnings) process.stderr.write(`${name}: warning: ${warning}\n`);
      process.stdout.write(printConfig(invocation.config));
      code = EXIT.OK;
    } else if (invocation.config.settings.check_config) {
      for (const warning of invocation.config.warnings) process.stderr.write(`${name}: warning: ${warning}\n`);
      code = await checkConfig(invocation.config);
    } else {
      // Forked with an IPC channel (the VS Code extension): when the parent goes away, so does the
      // server — a graceful stop through the signal queue, as TERM.
      if (process.send) process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
      code = await serve(invocation.config, { name, argv, env, cwd: process.cwd(), parentMasterPid });
    }
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    process.stderr.write(`${name}: error: ${e.message}\n`);
    code = e.exitCode;
  }
  // Let stdout drain before exiting (a pipe may still hold --help or --print-config output).
  process.stdout.write('', () => process.exit(code));
}

