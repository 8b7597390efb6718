// Which Python the workers run: the interpreter selected in the Python extension (followed as it
// changes) when that extension is installed, else unicorn.python, else the folder's .venv, else python3.
import fs from 'node:fs';
import path from 'node:path';
import { PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';

export type InterpreterSource = 'setting' | 'python-extension' | 'venv' | 'path';

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

const PYTHON_EXTENSION_ID = 'ms-python.python';

export class InterpreterFinder implements vscode.Disposable {
  private api: Promise<PythonExtension | undefined> | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly subscriptions: vscode.Disposable[] = [this.changed];
  /** Fires when the Python extension's selection changes (the running server keeps its interpreter until restarted). */
  readonly onDidChange = this.changed.event;

  private pythonExtension(): Promise<PythonExtension | undefined> {
    if (!vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) return Promise.resolve(undefined);
    this.api ??= PythonExtension.api().then(
      (api) => {
        this.subscriptions.push(api.environments.onDidChangeActiveEnvironmentPath(() => this.changed.fire()));
        return api;
      },
      () => undefined, // installed but failed to activate: fall back as if absent
    );
    return this.api;
  }

  async find(folder: vscode.WorkspaceFolder): Promise<Interpreter> {
    // The interpreter the user picked for the workspace in the Python extension comes first, so that
    // the server runs the same Python as the editor's tools; unicorn.python serves those without it.
    const api = await this.pythonExtension();
    if (api) {
      const active = api.environments.getActiveEnvironmentPath(folder.uri);
      const resolved = await api.environments.resolveEnvironment(active).catch(() => undefined);
      const exe = resolved?.executable.uri?.fsPath;
      if (exe) return { path: exe, source: 'python-extension' };
    }
    const setting = vscode.workspace.getConfiguration('unicorn', folder.uri).get<string>('python', '').trim();
    if (setting) return { path: expandPath(setting, folder.uri.fsPath), source: 'setting' };
    for (const venv of ['.venv', 'venv']) {
      const exe = path.join(folder.uri.fsPath, venv, 'bin', 'python');
      if (fs.existsSync(exe)) return { path: exe, source: 'venv' };
    }
    return { path: 'python3', source: 'path' };
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}

/** `${workspaceFolder}` and `~` in a path setting, relative paths against the folder. */
export function expandPath(value: string, folder: string): string {
  let p = value.replace(/\$\{workspaceFolder\}/g, folder);
  if (p.startsWith('~/')) p = path.join(process.env.HOME ?? '~', p.slice(2));
  return p.includes('/') && !path.isAbsolute(p) ? path.join(folder, p) : p;
}
