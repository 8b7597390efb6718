// What "Start Unicorn Server" runs in a folder: which CLI (unicorn or unicorn-django), its
// arguments, the interpreter and the environment — from the settings, the config file, or detection.
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { parseArgs } from '../../runtime/src/core/args';
import { AppCandidate, AppProtocol, appProtocol, candidateId, configNamesApp, describeCandidate, detectApps, moduleFile } from './app-detection';
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
  // An ASGI entry runs on the ASGI worker, whatever class the config file names for its WSGI app;
  // a worker class in unicorn.args is the user's word for this editor and stays.
  const workerClassFor = (protocol: AppProtocol): string[] => (protocol === 'asgi' && !parsed.values.has('worker_class') ? ['--worker-class', 'asgi'] : []);
  const app = options.app?.trim() || cfg.get<string>('app', '').trim() || parsed.app;
  if (app) {
    const rest = extra.filter((a) => a !== parsed.app);
    const importRoot = path.resolve(root, String(parsed.values.get('chdir') ?? '.'));
    const file = moduleFile(importRoot, app.split(':')[0].trim());
    const protocol = file ? appProtocol(readSmall(file) ?? '') : 'wsgi';
    const kind = workerClassFor(protocol);
    return { ...base, cli: 'unicorn', args: [...common, ...rest, ...kind, app], checkArgs: [...common, ...rest, ...kind], what: describeApp(app, protocol) };
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
  const kind = workerClassFor(chosen.protocol);
  return { ...base, cli: 'unicorn', args: [...common, ...chdir, ...extra, ...kind, chosen.app], checkArgs: [...common, ...extra, ...kind], what: describeApp(chosen.app, chosen.protocol) };
}

function describeApp(app: string, protocol: AppProtocol): string {
  return protocol === 'asgi' ? `${app} (ASGI)` : app;
}

/** The last app pick, for the API (tests check what the user was offered and drive the pick): its labels, and the highlighted one while it is open. */
export const lastPick: { labels: string[]; active: string | undefined } = { labels: [], active: undefined };

async function detect(folder: vscode.WorkspaceFolder): Promise<AppCandidate[]> {
  const files = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, '**/*.py'), EXCLUDE, 500);
  const candidates = detectApps(folder.uri.fsPath, files.map((f) => f.fsPath).sort(), readSmall);
  if (!candidates.length) {
    throw new InvocationError(
      `Unicorn: no WSGI or ASGI app found in ${folder.name} — set "unicorn.app" (e.g. "app:app"), or "wsgi_app" in unicorn.conf.py`,
    );
  }
  return candidates;
}

async function chooseApp(folder: vscode.WorkspaceFolder, state: vscode.Memento, interactive: boolean): Promise<AppCandidate> {
  const candidates = await detect(folder);
  const remembered = state.get<string>(rememberKey(folder));
  const again = candidates.find((c) => candidateId(c) === remembered);
  if (again) return again;
  if (candidates.length === 1 || !interactive) return candidates[0];
  const pick = await showAppPick(candidates);
  if (!pick) throw new InvocationError('Unicorn: nothing started — the list of apps was closed without a choice. Start again to pick one, or set "unicorn.app".');
  await state.update(rememberKey(folder), candidateId(pick));
  return pick;
}

/**
 * "Choose the App to Serve": asks again (the choice is otherwise remembered for the workspace) and
 * remembers the answer; resolves with what was chosen, or undefined when the pick was dismissed.
 */
export async function chooseAppAgain(folder: vscode.WorkspaceFolder, state: vscode.Memento): Promise<AppCandidate | undefined> {
  const pick = await showAppPick(await detect(folder));
  if (pick) await state.update(rememberKey(folder), candidateId(pick));
  return pick;
}

function showAppPick(candidates: AppCandidate[]): Promise<AppCandidate | undefined> {
  const items = candidates.map((c) => ({ ...describeCandidate(c), candidate: c }));
  lastPick.labels = items.map((i) => i.label);
  lastPick.active = undefined;
  const quickPick = vscode.window.createQuickPick<(typeof items)[number]>();
  quickPick.title = 'Unicorn: which app should the server run?';
  quickPick.placeholder = 'Remembered for this workspace; "Unicorn: Choose the App to Serve" asks again, "unicorn.app" overrides';
  quickPick.items = items;
  return new Promise((resolve) => {
    let chosen: AppCandidate | undefined;
    quickPick.onDidChangeActive((active) => (lastPick.active = active[0]?.label));
    quickPick.onDidAccept(() => {
      chosen = (quickPick.selectedItems[0] ?? quickPick.activeItems[0])?.candidate;
      quickPick.hide();
    });
    quickPick.onDidHide(() => {
      lastPick.active = undefined;
      quickPick.dispose();
      resolve(chosen);
    });
    quickPick.show();
  });
}
