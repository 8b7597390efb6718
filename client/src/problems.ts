// At Start: `unicorn check --json` with the same settings, its findings as diagnostics. The config
// file's own problems are the language server's; these cover what the editor settings add (or
// everything, when there is no config file), placed where those settings were written.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import { parseArgs } from '../../runtime/src/core/args';
import type { Finding } from '../../runtime/src/core/kernel';
import { getSetting } from '../../runtime/src/core/settings';
import { moduleFile } from './app-detection';
import { Invocation } from './invocation';

export const SOURCE = 'unicorn check';

export interface CheckResult {
  findings: Finding[];
  /** The limits the check compared with (absent when it did not run to the end). */
  limits?: Record<string, unknown>;
  /** Set when the settings themselves were refused (exit 2): the one-line error. */
  error?: string;
}

/** Runs `unicorn check --json ARGS` with the runtime the server runs with. */
export function runCheck(bin: string, inv: Invocation): Promise<CheckResult> {
  return new Promise((resolve) => {
    const child = fork(bin, ['check', '--json', ...inv.checkArgs], { cwd: inv.folder.uri.fsPath, env: inv.env, silent: true, execArgv: [] });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve({ findings: [], error: e.message }));
    child.on('exit', (code) => {
      if (code === 0 || code === 1) {
        try {
          const report = JSON.parse(out) as { findings: Finding[]; limits: Record<string, unknown> };
          resolve({ findings: report.findings, limits: report.limits });
          return;
        } catch {
          /* fall through: report what it said */
        }
      }
      resolve({ findings: [], error: (err.trim().split('\n').pop() ?? `unicorn check exited with ${code}`).replace(/^unicorn: error: /, '') });
    });
  });
}

/** Where the editor settings that drive this run were written: a settings.json or a .code-workspace file. */
export function settingsFileFor(folder: vscode.WorkspaceFolder): vscode.Uri | undefined {
  const cfg = vscode.workspace.getConfiguration('unicorn', folder.uri);
  const keys = ['args', 'app', 'python', 'configFile'];
  const inspected = keys.map((k) => cfg.inspect(k));
  if (inspected.some((i) => i?.workspaceFolderValue !== undefined)) return vscode.Uri.joinPath(folder.uri, '.vscode', 'settings.json');
  if (inspected.some((i) => i?.workspaceValue !== undefined)) {
    return vscode.workspace.workspaceFile?.scheme === 'file' ? vscode.workspace.workspaceFile : vscode.Uri.joinPath(folder.uri, '.vscode', 'settings.json');
  }
  return undefined;
}

/** The range of `needle` in a JSON settings file, after the `"unicorn.args"` key when given; else that key; else line 1. */
export function rangeInSettings(text: string, needle: string | undefined): vscode.Range {
  const lines = text.split(/\r?\n/);
  const at = (offset: number, length: number): vscode.Range => {
    const before = text.slice(0, offset).split(/\r?\n/);
    const line = before.length - 1;
    const col = before[line].length;
    return new vscode.Range(line, col, line, col + length);
  };
  const key = text.indexOf('"unicorn.args"');
  if (needle && key >= 0) {
    const i = text.indexOf(`"${needle}`, key);
    if (i >= 0) return at(i, text.indexOf('"', i + 1) - i + 1);
  }
  const anyKey = key >= 0 ? key : text.indexOf('"unicorn.');
  if (anyKey >= 0) return at(anyKey, text.indexOf('"', anyKey + 1) - anyKey + 1);
  return new vscode.Range(0, 0, 0, lines[0]?.length ?? 0);
}

const SEVERITY: Record<Finding['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/**
 * Publishes the check's findings. With a config file, only the findings of settings that
 * unicorn.args sets go to the settings file (the language server reports the rest on the config
 * file); without one, all of them go to the settings file, or to the app's module when no
 * unicorn.* setting is written in the workspace.
 */
export function publish(collection: vscode.DiagnosticCollection, inv: Invocation, result: CheckResult, appFile?: vscode.Uri): vscode.Uri | undefined {
  collection.clear();
  const cfg = vscode.workspace.getConfiguration('unicorn', inv.folder.uri);
  const args = cfg.get<string[]>('args', []);
  let fromArgs = new Map<string, unknown>();
  try {
    fromArgs = parseArgs('unicorn', args, 'unicorn.args').values;
  } catch {
    /* the check's own error says what is wrong */
  }
  const settingsFile = settingsFileFor(inv.folder);
  const target = settingsFile ?? (inv.configFile ? undefined : appFile);
  if (!target) return undefined;
  const text = readText(target.fsPath);
  const diagnostics: vscode.Diagnostic[] = [];
  if (result.error) {
    const d = new vscode.Diagnostic(rangeInSettings(text, undefined), `unicorn: ${result.error}`, vscode.DiagnosticSeverity.Error);
    d.source = SOURCE;
    diagnostics.push(d);
  }
  for (const f of result.findings) {
    const byArgs = f.setting !== undefined && fromArgs.has(f.setting);
    if (inv.configFile && !byArgs) continue;
    const flag = byArgs ? getSetting(f.setting!)?.flags.find((fl) => args.some((a) => a === fl || a.startsWith(`${fl}=`))) : undefined;
    const range = settingsFile ? rangeInSettings(text, flag) : new vscode.Range(0, 0, 0, 0);
    const d = new vscode.Diagnostic(range, `${f.message} — ${f.fix}`, SEVERITY[f.severity]);
    d.source = SOURCE;
    d.code = f.id;
    diagnostics.push(d);
  }
  collection.set(target, diagnostics);
  return target;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The module file of the app being served, when detection or a setting named one that exists. */
export function appModuleFile(inv: Invocation): vscode.Uri | undefined {
  const app = inv.args[inv.args.length - 1];
  const m = /^([\w.]+):/.exec(app ?? '');
  if (!m) return undefined;
  const chdirAt = inv.args.indexOf('--chdir');
  const file = moduleFile(path.join(inv.folder.uri.fsPath, chdirAt >= 0 ? inv.args[chdirAt + 1] : ''), m[1]);
  return file ? vscode.Uri.file(file) : undefined;
}
