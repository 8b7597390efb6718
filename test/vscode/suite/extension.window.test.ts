// The window goes away under running servers. A server started from the extension is gone
// (checked by pid) after the window reloads and after it closes, stopped gracefully first (its log
// says TERM, then "Shutting down"). A server run by the `unicorn` task lives as long as the task's
// terminal: a reload keeps the terminal (VS Code keeps every terminal across a reload) and the new
// window shows the server and still owns the task (Terminate Task stops it, gracefully). Closing a
// window ends its terminals in desktop VS Code (the runner's HUP: the "closing its terminal" test),
// but code-server keeps a closed tab's terminals for hours in case it comes back, so that path is
// not observable here. The suite runs once per window: the run before a reload or close starts the
// servers and leaves their pids in stateDir(); the run in the next window checks them.
//   1. first window: start both, reload the window
//   2. after the reload: the extension's server gone; the task's serving, in the tree, and
//      Terminate Task stops it; start the extension's again, close the window (the launcher opens
//      a new one, on another folder)
//   3. after the close: the extension's server gone
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import type { UnicornApi } from '../../../client/src/extension';
import type { MasterItem } from '../../../client/src/process-tree';
import { alive, stateDir, waitFor, windowAction } from './harness';

const EXTENSION_ID = 'unicorn-dev.unicorn';

/** One server the previous window left: its master and worker pids, and its log file. */
interface Left {
  pids: number[];
  log: string;
}

interface State {
  /** What the window that wrote this did to itself. */
  after: 'reload' | 'close';
  editor: Left;
  /** Only before a reload. */
  task?: Left;
}

const stateFile = () => path.join(stateDir(), 'window-state.json');
const previous: State | undefined = fs.existsSync(stateFile()) ? (JSON.parse(fs.readFileSync(stateFile(), 'utf8')) as State) : undefined;

suite(`Unicorn extension: the window ${previous ? `after a ${previous.after}` : 'before a reload'}`, () => {
  let api: UnicornApi;

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<UnicornApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded`);
    api = await ext.activate();
  });

  const idleMaster = (pick: (m: MasterItem) => boolean, what: string) => waitFor(async () => {
    await api.processTree.refresh();
    const m = api.processTree.masterItems.find(pick);
    return m && api.processTree.workersOf(m).filter((w) => w.status.state === 'idle').length === 2 ? m : undefined;
  }, 60_000, `${what} with 2 idle workers in the tree`);
  const pidsOf = (m: MasterItem) => [m.status.pid, ...api.processTree.workersOf(m).map((w) => w.status.pid)];

  /** Starts a server from the extension, logging to a file of its own. */
  async function startFromEditor(after: State['after']): Promise<Left> {
    const log = path.join(stateDir(), `editor-${after}.log`);
    const pid = await vscode.commands.executeCommand<number | undefined>('unicorn.start', { args: ['--error-logfile', log] });
    assert.ok(pid, `unicorn.start returned no pid; log:\n${api.logText()}`);
    return { pids: pidsOf(await idleMaster((m) => m.status.pid === pid, "the extension's server")), log };
  }

  /** Runs the workspace's `unicorn` task, its server logging to a file too (the task's terminal goes with the window). */
  async function startTask(): Promise<Left> {
    const [provided] = await vscode.tasks.fetchTasks({ type: 'unicorn' });
    assert.ok(provided?.execution instanceof vscode.ProcessExecution, 'no unicorn task');
    const log = path.join(stateDir(), 'task.log');
    const exec = provided.execution as vscode.ProcessExecution;
    const task = new vscode.Task(provided.definition, vscode.workspace.workspaceFolders![0], provided.name, provided.source,
      new vscode.ProcessExecution(exec.process, [...exec.args, '--error-logfile', log], exec.options), []);
    task.isBackground = true;
    await vscode.tasks.executeTask(task);
    return { pids: pidsOf(await idleMaster((m) => m.server.origin === 'discovered', "the task's server")), log };
  }

  /** Leaves the servers' pids for the next window's run, and asks for this window to go. */
  function leave(state: State): void {
    fs.writeFileSync(stateFile(), JSON.stringify(state));
    windowAction(state.after);
  }

  /** Every process of `left` is gone, and its log shows a graceful stop (TERM, then the master's goodbye). */
  async function gone(what: string, left: Left | undefined): Promise<void> {
    assert.ok(left, `the previous window left no ${what}`);
    await waitFor(() => left.pids.every((p) => !alive(p)), 60_000,
      `${what}'s master and workers (${left.pids.join(', ')}) to exit; alive: ${left.pids.filter(alive).join(', ')}`);
    const log = fs.readFileSync(left.log, 'utf8');
    assert.match(log, /\[INFO\] Handling signal: term\n/, `${what} was stopped with TERM (graceful); its log:\n${log}`);
    assert.match(log, /\[INFO\] Shutting down: Master\n/, `${what}'s master said goodbye; its log:\n${log}`);
    assert.doesNotMatch(log, /killing it|was sent SIGKILL/, `${what} needed no KILL`);
  }

  if (!previous) {
    test('a server from the extension and one from the task run; then the window reloads', async function () {
      this.timeout(180_000);
      leave({ after: 'reload', editor: await startFromEditor('reload'), task: await startTask() });
    });
  } else if (previous.after === 'reload') {
    test("the extension's server is gone after the window's reload, stopped gracefully", async function () {
      this.timeout(90_000);
      await gone("the extension's server", previous.editor);
    });
    test("the task's server still serves after the reload (its terminal is kept), shows in the tree, and Terminate Task (or the tree's Stop, when VS Code does not reattach the task) stops it gracefully", async function () {
      this.timeout(120_000);
      const task = previous.task;
      assert.ok(task, 'the first window left its task');
      assert.ok(task.pids.every(alive), `the task's processes ${task.pids.join(', ')} are all alive`);
      const [master] = task.pids;
      await idleMaster((m) => m.status.pid === master, `the task's server ${master}`);
      // Whether VS Code reattaches the task to its kept terminal after a reload is VS Code's decision (it did in
      // most runs here, not in all: once the new window listed no task and a plain 'bash' terminal). What the
      // extension owes is that the server is never orphaned: Terminate Task when the task came back, else the
      // tree's Stop on the server it shows — graceful either way (gone() reads the log).
      const execution = await waitFor(() => vscode.tasks.taskExecutions.find((e) => e.task.definition.type === 'unicorn'), 30_000, 'the task')
        .catch(() => undefined);
      if (execution) {
        execution.terminate();
      } else {
        console.log(`window suite: VS Code did not reattach the task after the reload (tasks: ${vscode.tasks.taskExecutions.map((e) => e.task.name).join(', ')}; terminals: ${vscode.window.terminals.map((t) => t.name).join(', ')}); stopping it from the tree`);
        await vscode.commands.executeCommand('unicorn.stop', await idleMaster((m) => m.status.pid === master, `the task's server ${master}`));
      }
      await gone("the reloaded window's task's server", task);
    });
    test("the extension's server runs again; then the window closes", async function () {
      this.timeout(180_000);
      leave({ after: 'close', editor: await startFromEditor('close') });
    });
  } else {
    test("the extension's server is gone after the window closed, stopped gracefully", async function () {
      this.timeout(90_000);
      await gone("the extension's server", previous.editor);
    });
  }
});
