// What "Start Unicorn Server" runs in a folder: which CLI (unicorn or unicorn-django), its
// arguments, the interpreter and the environment — from the settings, the config file, or detection.
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { parseArgs } from '../../runtime/src/core/args';
import { AppCandidate, candidateId, configNamesApp, describeCandidate, detectApps } from './app-detection';
import { Interpreter, InterpreterFinder, expandPath } from './interpreter';

export type CliName = 'unicorn' | 'unicorn-django';

export interface Invocation {
  folder: vscode.WorkspaceFolder;
  cli: CliName;
  /** The arguments, without --control-socket (the caller adds its own). */
  args: string[];
  /** The same settings for `unicorn check` (no app: check does not need one). */
  checkArgs: string[];
  interpreter: Interpreter;
  /** The config file the runtime will read (absolute), if any. */
  configFile?: string;
  /** What is served, for people: "app:app", "Django project", "wsgi_app of unicorn.conf.py". */
  what: string;
  env: NodeJS.ProcessEnv;
}

/** A refusal worth a message (no app found, the user cancelled the choice). */
export class InvocationError extends Error {}

const DEFAULT_CONFIG_FILES = ['unicorn.conf.py', 'gunicorn.conf.py'];
const DEBUGPY_EXTENSION_ID = 'ms-python.debugpy';
const EXCLUDE = '{**/node_modules/**,**/.venv/**,**/venv/**,**/site-packages/**,**/__pycache__/**,**/.git/**}';

function rememberKey(folder: vscode.WorkspaceFolder): string {
  return `unicorn.detectedApp:${folder.uri.toString()}`;
}

/** The Python Debugger extension's own copy of debugpy, if that extension is installed. */
export function bundledDebugpyPath(): string | undefined {
  const ext = vscode.extensions.getExtension(DEBUGPY_EXTENSION_ID);
  const libs = ext && path.join(ext.extensionPath, 'bundled', 'libs');
  return libs && fs.existsSync(path.join(libs, 'debugpy')) ? libs : undefined;
}

function readSmall(file: string): string | undefined {
  try {
    return fs.statSync(file).size <= 512 * 1024 ? fs.readFileSync(file, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

export interface ResolveOptions {
  /** May ask with a quick pick when several apps are found (false for tasks and launch configs without a UI moment). */
  interactive: boolean;
  /** Overrides from a launch configuration or task definition. */
  app?: string;
  args?: string[];
}

export async function resolveInvocation(
  folder: vscode.WorkspaceFolder,
  state: vscode.Memento,
  interpreters: InterpreterFinder,
  options: ResolveOptions,
): Promise<Invocation> {
  const root = folder.uri.fsPath;
  const cfg = vscode.workspace.getConfiguration('unicorn', folder.uri);
  const interpreter = await interpreters.find(folder);
  const extra = options.args ?? cfg.get<string[]>('args', []);
  if (!Array.isArray(extra) || extra.some((a) => typeof a !== 'string')) {
    throw new InvocationError('unicorn.args must be an array of strings, e.g. ["--workers", "3"]');
  }
  const parsed = parseArgs('unicorn', extra, 'unicorn.args'); // throws a CliError naming the bad flag
  const common: string[] = ['--python', interpreter.path];

  // The config file: unicorn.configFile, else the default names the runtime would pick up anyway.
  const configSetting = cfg.get<string>('configFile', '').trim();
  let configFile: string | undefined;
  if (parsed.values.has('config')) configFile = path.resolve(root, String(parsed.values.get('config')));
  else if (configSetting) configFile = path.resolve(root, expandPath(configSetting, root));
  else configFile = DEFAULT_CONFIG_FILES.map((n) => path.join(root, n)).find((f) => fs.existsSync(f));
  if (configFile && !parsed.values.has('config')) common.push('-c', configFile);
  const configText = configFile ? readSmall(configFile) ?? '' : '';

  // Access lines in the log unless the user decided where they go.
  if (!parsed.values.has('accesslog') && !/^accesslog\s*=/m.test(configText)) common.push('--access-logfile', '-');

  const env: NodeJS.ProcessEnv = { ...process.env };
  // debugpy for "Attach Debugger": the interpreter's own first, the Python Debugger extension's copy after it.
  const bundled = bundledDebugpyPath();
  if (bundled) env.PYTHONPATH = [env.PYTHONPATH, bundled].filter(Boolean).join(path.delimiter);

  const base = { folder, interpreter, configFile, env };
  const app = options.app?.trim() || cfg.get<string>('app', '').trim() || parsed.app;
  if (app) {
    const args = [...common, ...extra.filter((a) => a !== parsed.app), app];
    return { ...base, cli: 'unicorn', args, checkArgs: [...common, ...extra.filter((a) => a !== parsed.app)], what: app };
  }
  if (configFile && configNamesApp(configText)) {
    return { ...base, cli: 'unicorn', args: [...common, ...extra], checkArgs: [...common, ...extra], what: `wsgi_app of ${path.basename(configFile)}` };
  }

  const chosen = await chooseApp(folder, state, options.interactive);
  if (chosen.kind === 'django') {
    const chdir = chosen.dir ? ['--chdir', chosen.dir] : [];
    // check resolves the settings as the run does, so it needs the project's directory (manage.py) too.
    return { ...base, cli: 'unicorn-django', args: [...common, ...chdir, ...extra], checkArgs: [...common, ...chdir, ...extra], what: 'Django project' };
  }
  const chdir = chosen.chdir ? ['--chdir', chosen.chdir] : [];
  return { ...base, cli: 'unicorn', args: [...common, ...chdir, ...extra, chosen.app], checkArgs: [...common, ...extra], what: chosen.app };
}

/** The labels the last app pick offered (for the API: tests check what the user was offered). */
export const lastPick: { labels: string[] } = { labels: [] };

async function chooseApp(folder: vscode.WorkspaceFolder, state: vscode.Memento, interactive: boolean): Promise<AppCandidate> {
  const files = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, '**/*.py'), EXCLUDE, 500);
  const candidates = detectApps(folder.uri.fsPath, files.map((f) => f.fsPath).sort(), readSmall);
  if (!candidates.length) {
    throw new InvocationError(
      `Unicorn: no WSGI app found in ${folder.name} — set "unicorn.app" (e.g. "app:app"), or "wsgi_app" in unicorn.conf.py`,
    );
  }
  const remembered = state.get<string>(rememberKey(folder));
  const again = candidates.find((c) => candidateId(c) === remembered);
  if (again) return again;
  if (candidates.length === 1 || !interactive) return candidates[0];
  lastPick.labels = candidates.map((c) => describeCandidate(c).label);
  const pick = await vscode.window.showQuickPick(
    candidates.map((c) => ({ ...describeCandidate(c), candidate: c })),
    { title: 'Unicorn: which app should the server run?', placeHolder: 'Remembered for this workspace; change it with "unicorn.app"' },
  );
  if (!pick) throw new InvocationError('Unicorn: nothing started — the list of apps was closed without a choice. Start again to pick one, or set "unicorn.app".');
  await state.update(rememberKey(folder), candidateId(pick.candidate));
  return pick.candidate;
}
