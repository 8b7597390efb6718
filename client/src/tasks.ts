// The `unicorn` task type: runs the server in the terminal with the same resolution as Start.
import path from 'node:path';
import * as vscode from 'vscode';
import { InterpreterFinder } from './interpreter';
import { resolveInvocation } from './invocation';

export const TASK_TYPE = 'unicorn';

interface UnicornTaskDefinition extends vscode.TaskDefinition {
  app?: string;
  args?: string[];
}

export class UnicornTaskProvider implements vscode.TaskProvider {
  constructor(
    private readonly extensionPath: string,
    private readonly state: vscode.Memento,
    private readonly interpreters: InterpreterFinder,
  ) {}

  async provideTasks(): Promise<vscode.Task[]> {
    const tasks: vscode.Task[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const task = await this.build(folder, { type: TASK_TYPE }).catch(() => undefined);
      if (task) tasks.push(task);
    }
    return tasks;
  }

  async resolveTask(task: vscode.Task): Promise<vscode.Task | undefined> {
    const folder = typeof task.scope === 'object' ? task.scope : vscode.workspace.workspaceFolders?.[0];
    if (!folder) return undefined;
    return this.build(folder, task.definition as UnicornTaskDefinition, task.name);
  }

  private async build(folder: vscode.WorkspaceFolder, definition: UnicornTaskDefinition, name = 'serve'): Promise<vscode.Task> {
    const inv = await resolveInvocation(folder, this.state, this.interpreters, { interactive: false, app: definition.app, args: definition.args });
    const bin = path.join(this.extensionPath, 'runtime', 'bin', `${inv.cli}.js`);
    // The task owns its server through the runner (dist/client/task-runner.js): Terminate Task,
    // closing the terminal or the window stops it instead of the HUP reloading it.
    const runner = path.join(this.extensionPath, 'dist', 'client', 'task-runner.js');
    // The extension host's Node (Electron's, in desktop VS Code: ELECTRON_RUN_AS_NODE makes it plain Node).
    const execution = new vscode.ProcessExecution(process.execPath, [runner, bin, ...inv.args], {
      cwd: folder.uri.fsPath,
      env: {
        ELECTRON_RUN_AS_NODE: '1',
        ...(inv.env.PYTHONPATH ? { PYTHONPATH: inv.env.PYTHONPATH } : {}),
        // The server's control socket goes where this extension's discovery looks (the terminal's
        // environment is the window's, which may differ from the extension host's).
        ...(process.env.XDG_RUNTIME_DIR ? { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR } : {}),
      },
    });
    const task = new vscode.Task(definition, folder, name, TASK_TYPE, execution, []);
    task.isBackground = true;
    task.detail = `${inv.cli} ${inv.what}`;
    return task;
  }
}
