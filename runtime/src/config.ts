// Effective settings from their four sources, in gunicorn's precedence:
// defaults < config file < UNICORN_CMD_ARGS / GUNICORN_CMD_ARGS < command line.
import fs from 'node:fs';
import path from 'node:path';
import { parseAppSpec } from './core/appspec';
import { CliName, ParsedArgs, helpText, parseArgs, shellSplit } from './core/args';
import { CliError } from './core/errors';
import { resolvePython, runConfigHelper } from './python';
import {
  HOOKS, SETTINGS, SettingError, Settings, VERSION, annotationOnly, coerce, defaults, getSetting, ignoredWarning, isBuilt, nameHint, valueHint,
} from './core/settings';

/**
 * Settings a config file set, validated. Other module-level names are the file's own helpers and are
 * ignored, as gunicorn ignores them; those that look like a mistake (a retired or misspelt name, an old
 * hook name) come back as warnings naming the line.
 */
async function loadConfigFile(file: string, python: string, cwd: string): Promise<{ values: Map<string, unknown>; hooks: string[]; warnings: string[] }> {
  const answer = await runConfigHelper(python, 'load', file, cwd);
  const where = (line: unknown) => (typeof line === 'number' ? `${file}:${line}` : file);
  if (typeof answer.error === 'string') {
    throw new CliError(`${where(answer.line)}: ${answer.error} — fix the config file (it is plain Python, run by ${python})`);
  }
  const lines = (answer.lines ?? {}) as Record<string, number>;
  const values = new Map<string, unknown>();
  const warnings: string[] = [];
  const fail = (name: string, problem: string, fix: string): never => {
    throw new CliError(`${where(lines[name])}: ${name}: ${problem} — ${fix}`);
  };
  const refuse = (e: SettingError): never => {
    throw new CliError(`${where(lines[e.setting])}: ${e.message}`);
  };
  // A name the file reads is its own helper, whatever it is called (log_file = ...; handlers use log_file).
  const used = new Set((answer.used ?? []) as string[]);
  const warnAbout = (name: string, callable: boolean) => {
    if (used.has(name)) return;
    const hint = nameHint(name, callable);
    if (hint) warnings.push(`${where(lines[name])}: ${hint.message}`);
  };
  for (const [name, type] of Object.entries((answer.unserializable ?? {}) as Record<string, string>)) {
    const setting = getSetting(name);
    if (setting?.type === 'object') fail(name, `holds a ${type} object, which cannot be passed to the workers`, 'use plain data only (write streams as "ext://sys.stdout")');
    if (setting) fail(name, `a ${type} object is not a valid value`, 'use a number, string, bool, list or dict');
    warnAbout(name, false);
  }
  for (const [name, raw] of Object.entries((answer.settings ?? {}) as Record<string, unknown>)) {
    const setting = getSetting(name);
    if (!setting) {
      warnAbout(name, false);
      continue;
    }
    if (name === 'config') fail(name, 'a config file cannot name another config file', 'pass -c on the command line');
    try {
      values.set(name, coerce(setting, raw));
    } catch (e) {
      if (e instanceof SettingError) refuse(e);
      throw e;
    }
    const ignored = ignoredWarning(setting, values.get(name));
    if (ignored) warnings.push(`${where(lines[name])}: ${ignored}`);
    const hint = valueHint(setting, values.get(name));
    if (hint) warnings.push(`${where(lines[name])}: ${hint.message}`);
  }
  for (const [name, line] of Object.entries((answer.annotated ?? {}) as Record<string, number>)) {
    if (getSetting(name) && !values.has(name)) warnings.push(`${where(line)}: ${annotationOnly(name)}`);
  }
  const callables = (answer.callables ?? []) as string[];
  for (const name of callables) if (!(name in HOOKS) && !getSetting(name)) warnAbout(name, true);
  return { values, hooks: callables.filter((name) => name in HOOKS), warnings };
}

function coerceAll(parsed: ParsedArgs, source: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [name, raw] of parsed.values) {
    try {
      out.set(name, coerce(getSetting(name)!, raw));
    } catch (e) {
      if (e instanceof SettingError) throw new CliError(`${source}: ${e.message}`);
      throw e;
    }
  }
  if (parsed.host !== undefined || parsed.port !== undefined) {
    if (parsed.values.has('bind')) throw new CliError(`${source}: both --bind and --host/--port given — use one of them`);
    const port = parsed.port ?? '8000';
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new CliError(`${source}: --port "${port}" is not a port number — give 0 to 65535`);
    const host = parsed.host ?? '127.0.0.1';
    out.set('bind', [`${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`]);
  }
  return out;
}

export interface Resolved {
  settings: Settings;
  /** Where each setting's value came from: default, config file, environment or command line. */
  origin: Record<string, string>;
  configFile: string | null;
  app: string | null;
  /** The interpreter, resolved. */
  python: string;
  /** Absolute chdir and pythonpath entries. */
  chdir: string;
  pythonpath: string[];
  /** Extra environment for the workers (raw_env plus what unicorn-django adds). */
  workerEnv: Record<string, string>;
  /** The server hooks the config file defines. */
  hooks: string[];
  /** The ids `user` / `group` resolve to (the workers run as them), or null when neither is set. */
  owner?: Owner | null;
  /** Likely mistakes that do not stop a start (a retired or misspelt name, a setting with no effect here). */
  warnings: string[];
}

export interface Owner {
  uid: number;
  gid: number;
  /** The user's name, when the uid has one. */
  user: string | null;
}

/** user/group: resolved by Python as the workers will resolve them; an unknown name or a switch without root is refused. */
async function resolveOwner(settings: Settings, python: string, cwd: string, origin: Record<string, string>): Promise<Owner | null> {
  if (settings.user == null && settings.group == null) return null;
  const spec = JSON.stringify({ user: settings.user, group: settings.group });
  const answer = await runConfigHelper(python, 'owner', spec, cwd);
  if (typeof answer.error === 'string') {
    const name = answer.setting === 'group' ? 'group' : 'user';
    const where = origin[name] && origin[name] !== 'default' ? `${origin[name]}: ` : '';
    throw new CliError(`${where}${name}: ${answer.error} — give an existing ${name} name or a numeric id`);
  }
  const owner = answer as unknown as Owner;
  const euid = process.geteuid?.() ?? 0;
  if (euid !== 0 && (owner.uid !== euid || owner.gid !== process.getegid?.())) {
    throw new CliError(`user: switching the workers to ${settings.user ?? owner.uid}${settings.group != null ? `:${settings.group}` : ''} needs root — run unicorn as root, or leave out --user/--group`);
  }
  return owner;
}

export type Invocation = { kind: 'help'; text: string } | { kind: 'version'; text: string } | { kind: 'run'; config: Resolved };


/** Reads every source and returns what to do. Throws CliError for anything wrong. */
export async function resolveInvocation(
  name: CliName,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  /** appOptional: `unicorn check` needs the settings, not an app. */
  options: { appOptional?: boolean } = {},
): Promise<Invocation> {
  const cli = parseArgs(name, argv, 'command line');
  if (cli.help) return { kind: 'help', text: helpText(name) };
  if (cli.version) return { kind: 'version', text: `${name} (unicorn) ${VERSION}\n` };

  const envName = env.UNICORN_CMD_ARGS !== undefined ? 'UNICORN_CMD_ARGS' : env.GUNICORN_CMD_ARGS !== undefined ? 'GUNICORN_CMD_ARGS' : undefined;
  const fromEnv = envName ? parseArgs(name, shellSplit(env[envName]!, envName), envName) : undefined;
  if (fromEnv?.app) throw new CliError(`${envName}: it cannot name the app ("${fromEnv.app}") — give APP_MODULE on the command line`);
  const cliValues = coerceAll(cli, 'command line');
  const envValues = fromEnv ? coerceAll(fromEnv, envName!) : new Map<string, unknown>();

  // The config file: -c wins, then the environment's -c, then the default names.
  const named = (cliValues.get('config') ?? envValues.get('config')) as string | null | undefined;
  let configFile: string | null = null;
  if (named) {
    configFile = path.resolve(cwd, named);
    if (!fs.existsSync(configFile)) throw new CliError(`config file ${named} not found — check the path given to -c`);
  } else {
    for (const candidate of ['unicorn.conf.py', 'gunicorn.conf.py']) {
      if (fs.existsSync(path.join(cwd, candidate))) {
        configFile = path.join(cwd, candidate);
        break;
      }
    }
  }
  const earlyPython = resolvePython(cliValues.get('python') ?? envValues.get('python'), cwd, env);
  const loaded = configFile ? await loadConfigFile(configFile, earlyPython, cwd)
    : { values: new Map<string, unknown>(), hooks: [], warnings: [] as string[] };
  const fileValues = loaded.values;

  const settings = defaults(env);
  const origin: Record<string, string> = Object.fromEntries(Object.keys(settings).map((k) => [k, 'default']));
  const workersDefault = settings.workers;
  if (env.WEB_CONCURRENCY !== undefined && !(Number.isInteger(workersDefault) && (workersDefault as number) >= 1)) {
    throw new CliError(`WEB_CONCURRENCY="${env.WEB_CONCURRENCY}" is not a positive whole number — unset it or set it to e.g. 4`);
  }
  const layers: Array<[Map<string, unknown>, string]> = [
    [fileValues, configFile ?? ''],
    [envValues, envName ?? ''],
    [cliValues, 'command line'],
  ];
  const warnings = [...loaded.warnings];
  for (const [values, label] of layers) {
    for (const [k, v] of values) {
      settings[k] = v;
      origin[k] = label;
      const ignored = values === fileValues ? undefined : ignoredWarning(getSetting(k)!, v);
      if (ignored) warnings.push(`${label}: ${ignored}`);
    }
  }
  settings.config = configFile;

  for (const name of ['logconfig', 'logconfig_json']) {
    if (typeof settings[name] !== 'string' || !settings[name]) continue;
    settings[name] = path.resolve(cwd, settings[name] as string);
    if (!fs.existsSync(settings[name] as string)) {
      throw new CliError(`${name}: ${settings[name]} not found — give the path of an existing logging config file`);
    }
  }
  const chdir = path.resolve(cwd, (settings.chdir as string | null) ?? '.');
  if (!fs.existsSync(chdir) || !fs.statSync(chdir).isDirectory()) {
    throw new CliError(`chdir: ${chdir} is not a directory — give an existing directory to --chdir`);
  }
  settings.chdir = chdir;
  const pythonpath = ((settings.pythonpath as string | null) ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => path.resolve(chdir, p));
  const python = resolvePython(settings.python, chdir, env);
  settings.reload_extra_files = (settings.reload_extra_files as string[]).map((f) => path.resolve(cwd, f));
  const missing = (settings.reload_extra_files as string[]).find((f) => !fs.existsSync(f));
  if (missing) throw new CliError(`reload_extra_files: ${missing} does not exist — name existing files (templates, data) to watch`);

  const workerEnv: Record<string, string> = {};
  for (const entry of settings.raw_env as string[]) {
    const i = entry.indexOf('=');
    workerEnv[entry.slice(0, i)] = entry.slice(i + 1);
  }

  let app = cli.app ?? (settings.wsgi_app as string | null) ?? null;
  if (name === 'unicorn-django') {
    const manage = path.join(chdir, 'manage.py');
    if (!fs.existsSync(manage)) {
      throw new CliError(`no manage.py in ${chdir} — run unicorn-django in your Django project's directory, or pass --chdir PROJECT_DIR`);
    }
    let module = workerEnv.DJANGO_SETTINGS_MODULE ?? env.DJANGO_SETTINGS_MODULE;
    if (!module) {
      const answer = await runConfigHelper(python, 'django-settings', manage, chdir);
      if (typeof answer.error === 'string') {
        throw new CliError(`${manage}: ${answer.error} — set DJANGO_SETTINGS_MODULE in the environment or with -e DJANGO_SETTINGS_MODULE=mysite.settings`);
      }
      module = answer.settings_module as string;
    }
    workerEnv.DJANGO_SETTINGS_MODULE = module;
    app = settings.worker_class === 'asgi' ? 'django.core.asgi:get_asgi_application()' : 'django.core.wsgi:get_wsgi_application()';
  }
  if (app !== null && !parseAppSpec(app)) {
    throw new CliError(`app "${app}" is not MODULE:CALLABLE — write it like test:app, mypkg.wsgi:application or app:create_app()`);
  }
  if (app === null && !settings.print_config && !options.appOptional) {
    throw new CliError(`no app to serve — give APP_MODULE (e.g. ${name} test:app) or set wsgi_app in the config file`);
  }
  const owner = await resolveOwner(settings, python, chdir, origin);
  return { kind: 'run', config: { settings, origin, configFile, app, python, chdir, pythonpath, workerEnv, hooks: loaded.hooks, owner, warnings } };
}

/** A JSON value written as the Python literal that means the same, for --print-config. */
export function pythonLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

/** --print-config: every supported setting as a line of Python, ready to paste into a config file. */
export function printConfig(config: Resolved): string {
  const width = Math.max(...SETTINGS.map((s) => s.name.length));
  const shown: Record<string, unknown> = { ...config.settings, python: config.python, wsgi_app: config.app };
  return SETTINGS.filter(isBuilt)
    .map((s) => `${s.name.padEnd(width)} = ${pythonLiteral(shown[s.name])}`)
    .join('\n') + '\n';
}
