// The extension's entry point: commands, the process tree, worker debugging, the status bar,
// start-time problems, the `unicorn` task and launch types, and the language client.
import path from 'node:path';
import * as vscode from 'vscode';
import { DocumentSelector, LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { COPY_FIX, RUN_FIX_IN_TERMINAL, WorkerStatus } from '../../runtime/src/core/control-protocol';
import { describeCandidate } from './app-detection';
import { ArbiterProcess, ServerHandle, controlSocketFor } from './arbiter-process';
import { DiscoveredServer, discoverControlSockets } from './discovery';
import { LiveView } from './live-view';
import { LAUNCH_DEBUG_TYPE, LaunchAdapter, WORKER_DEBUG_TYPE, WorkerAdapterFactory, WorkerDebugger } from './debug';
import { InterpreterFinder } from './interpreter';
import { Invocation, InvocationError, chooseAppAgain, lastPick, resolveInvocation } from './invocation';
import { CheckResult, appModuleFile, publish, runCheck } from './problems';
import { MasterItem, ProcessNode, ProcessTreeProvider, VIEW_ID, WorkerItem } from './process-tree';
import { ServerStatusBar } from './status-bar';
import { TASK_TYPE, UnicornTaskProvider } from './tasks';
import { StartDecision, canStart } from './trust';

/** What activate() returns: the handles the in-editor tests (and other extensions) read. */
export interface UnicornApi {
  readonly processTree: ProcessTreeProvider;
  /** Every notification the extension showed (text only), oldest first. */
  messages(): readonly string[];
  /** The last check at Start (`unicorn check --json`), and the labels the last app pick offered. */
  lastCheck(): CheckResult | undefined;
  lastPickLabels(): readonly string[];
  /** The highlighted entry of the app pick while it is open (undefined when it is closed). */
  lastPickActive(): string | undefined;
  /** The open live view, if any: its numbers and what its webview last drew. */
  liveView(): LiveView | undefined;
  readonly treeView: vscode.TreeView<ProcessNode>;
  readonly problems: vscode.DiagnosticCollection;
  readonly debuggers: WorkerDebugger;
  /** The running server, if any. */
  server(): ArbiterProcess | undefined;
  /** Everything written to the Unicorn output channel (its last megabyte). */
  logText(): string;
  statusBarText(): string;
  canStart(isTrusted: boolean): StartDecision;
}

let controller: Controller | undefined;
let client: LanguageClient | undefined;

class Controller implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Unicorn', 'unicorn-log');
  readonly debuggers = new WorkerDebugger();
  /** Pid files in the workspace (discovery looks for a control socket beside each), kept by a watcher. */
  private readonly pidFiles = new Set<string>();
  readonly tree = new ProcessTreeProvider({
    discover: () => discoverControlSockets([...this.pidFiles]),
    open: (socket) => new DiscoveredServer(socket),
    attached: (pid) => Boolean(this.debuggers.sessionFor(pid)),
  });
  readonly treeView = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this.tree, showCollapseAll: false });
  readonly statusBar = new ServerStatusBar();
  readonly problems = vscode.languages.createDiagnosticCollection('unicorn-check');
  readonly interpreters = new InterpreterFinder();
  server: ArbiterProcess | undefined;
  /** Workers added (+) or removed (-) through the control socket since the last start or reload, per server. */
  private readonly scaled = new Map<string, number>();
  readonly shown: string[] = [];
  /** The last check at Start. */
  lastCheck: CheckResult | undefined;
  liveView: LiveView | undefined;
  private log = '';
  private starting: Promise<ArbiterProcess | undefined> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.tree.setVisible(this.treeView.visible);
    this.disposables.push(
      this.output, this.tree, this.treeView, this.statusBar, this.problems, this.interpreters, this.debuggers,
      this.treeView.onDidChangeVisibility((e) => this.tree.setVisible(e.visible)),
      this.debuggers.onDidChange(() => void this.tree.refresh()),
      ...this.watchPidFiles(),
      this.interpreters.onDidChange(() => {
        if (this.server?.running) this.appendLog('unicorn: the selected Python interpreter changed — restart the server to use it\n');
      }),
    );
  }

  private watchPidFiles(): vscode.Disposable[] {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.pid');
    void vscode.workspace.findFiles('**/*.pid', '**/node_modules/**', 200).then((uris) => uris.forEach((u) => this.pidFiles.add(u.fsPath)));
    return [
      watcher,
      watcher.onDidCreate((u) => (this.pidFiles.add(u.fsPath), void this.tree.refresh())),
      watcher.onDidChange((u) => this.pidFiles.add(u.fsPath)),
      watcher.onDidDelete((u) => this.pidFiles.delete(u.fsPath)),
    ];
  }

  /** A notification, recorded for the API (tests read what the user was told). */
  notify(kind: 'info' | 'warning' | 'error', text: string, ...actions: string[]): Thenable<string | undefined> {
    this.shown.push(text);
    const show = kind === 'error' ? vscode.window.showErrorMessage : kind === 'warning' ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    return show(text, ...actions);
  }

  /** The output channel, mirrored for the API (an output channel cannot be read back); the last megabyte is kept. */
  private appendLog(text: string): void {
    this.output.append(text);
    this.log += text;
    if (this.log.length > 2 * 1024 * 1024) this.log = this.log.slice(-1024 * 1024);
  }

  get logText(): string {
    return this.log;
  }

  private folder(): vscode.WorkspaceFolder | undefined {
    const active = vscode.window.activeTextEditor?.document.uri;
    return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
  }

  private bin(inv: Invocation): string {
    // runtime/bin/*.js load the bundled dist/runtime/cli.js, exactly as the `unicorn` command does.
    return this.context.asAbsolutePath(path.join('runtime', 'bin', `${inv.cli}.js`));
  }

  /** Start Server (also the `unicorn` launch type's launch). Resolves once the control socket answers, or the server exited. */
  start(overrides: { app?: string; args?: string[] } = {}, interactive = true): Promise<ArbiterProcess | undefined> {
    this.starting ??= this.doStart(overrides, interactive).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async doStart(overrides: { app?: string; args?: string[] }, interactive: boolean): Promise<ArbiterProcess | undefined> {
    const decision = canStart(vscode.workspace.isTrusted);
    if (!decision.ok) {
      void vscode.window.showWarningMessage(decision.reason, 'Manage Workspace Trust').then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return undefined;
    }
    if (this.server?.running) {
      this.output.show(true);
      void vscode.window.showInformationMessage(`Unicorn is already running (pid ${this.server.pid}) — stop it first to start another.`);
      return this.server;
    }
    const folder = this.folder();
    if (!folder) {
      void vscode.window.showErrorMessage('Unicorn: open a folder first — the server runs in the workspace folder.');
      return undefined;
    }
    let inv: Invocation;
    try {
      inv = await resolveInvocation(folder, this.context.workspaceState, this.interpreters, { interactive, ...overrides });
    } catch (e) {
      void this.notify('error', e instanceof InvocationError ? e.message : `Unicorn: ${(e as Error).message}`);
      return undefined;
    }
    const storage = (this.context.storageUri ?? this.context.globalStorageUri).fsPath;
    const check = runCheck(this.bin(inv), inv).then((result) => {
      this.lastCheck = result;
      if (result.error) this.appendLog(`unicorn check: ${result.error}\n`);
      publish(this.problems, inv, result, appModuleFile(inv));
    });
    // Which Python runs the workers, first: most start failures are that interpreter lacking a module.
    this.appendLog(`unicorn: workers run ${inv.interpreter.path} (${describeSource(inv.interpreter.source)})\n`);
    const server = new ArbiterProcess(inv, this.bin(inv), controlSocketFor(storage), (text) => this.appendLog(text));
    this.server = server;
    this.scaled.delete(server.controlSocket);
    this.output.show(true);
    server.onDidChange(() => {
      this.statusBar.update(server);
      if (!server.running) this.onExit(server);
    });
    this.tree.addServer(server);
    this.statusBar.update(server);
    await check;
    // The control socket is up once the arbiter has bound; poll until it answers (or the server exits).
    for (let i = 0; i < 300 && server.running && !server.lastStatus; i++) {
      await server.refreshStatus();
      if (!server.lastStatus) await new Promise((r) => setTimeout(r, 100));
    }
    await this.tree.refresh();
    await this.revealServer(server);
    return server.running ? server : undefined;
  }

  /** Shows the Unicorn view (its container in the activity bar) with the new server's row. */
  private async revealServer(server: ServerHandle): Promise<void> {
    const master = this.tree.masterFor(server);
    if (!master) return;
    try {
      await this.treeView.reveal(master, { expand: true, select: false, focus: false });
    } catch {
      /* the workbench refused (e.g. the view was moved and hidden): the status bar still shows it */
    }
  }

  private onExit(server: ArbiterProcess): void {
    if (this.server !== server) return;
    this.tree.removeServer(server);
    const exit = server.exit;
    if (exit && exit.code !== 0 && exit.signal === null && !this.stopping) {
      const missing = missingModule(server.tail);
      if (missing) {
        const python = server.invocation.interpreter.path;
        const actions = vscode.extensions.getExtension('ms-python.python') ? ['Select Interpreter', 'Set unicorn.python'] : ['Set unicorn.python', 'Show Log'];
        void this.notify(
          'error',
          `Unicorn: the workers' Python (${python}) has no module "${missing}" — select an interpreter that has it, or set unicorn.python (or install it: ${python} -m pip install ${missing}).`,
          ...actions,
        ).then((c) => {
          if (c === 'Select Interpreter') void vscode.commands.executeCommand('python.setInterpreter');
          else if (c === 'Set unicorn.python') void vscode.commands.executeCommand('workbench.action.openSettings', 'unicorn.python');
          else if (c) this.output.show();
        });
        return;
      }
      void this.notify('error', `Unicorn stopped with exit code ${exit.code} — see the log.`, 'Show Log').then((c) => {
        if (c) this.output.show();
      });
    }
  }

  private stopping = false;

  async stop(item?: MasterItem): Promise<void> {
    const server = item?.server ?? (await this.running());
    if (!server?.running) return;
    const own = server === this.server;
    if (own) this.stopping = true;
    try {
      await server.stop();
    } finally {
      if (own) {
        this.stopping = false;
        this.statusBar.update(undefined);
        // The check's findings were about this run's settings: Start checks again.
        this.problems.clear();
      }
      this.tree.removeServer(server);
      await this.tree.refresh();
    }
  }

  /**
   * The server a command without a tree row acts on: the one this window started, else the only
   * one discovery knows, else the user's pick; undefined (with a message) when there is none.
   */
  private async running(): Promise<ServerHandle | undefined> {
    if (this.server?.running) return this.server;
    const all = this.tree.handles.filter((s) => s.lastStatus);
    if (all.length === 1) return all[0];
    if (all.length > 1) {
      const pick = await vscode.window.showQuickPick(
        all.map((s) => ({ label: `master ${s.pid}`, description: `${s.lastStatus?.master.app ?? ''} ${s.url ?? ''}`, server: s })),
        { title: 'Which Unicorn server?' },
      );
      return pick?.server;
    }
    void this.notify('info', 'Unicorn: no server is running — run "Start Unicorn Server" first.', 'Start').then((c) => {
      if (c) void vscode.commands.executeCommand('unicorn.start');
    });
    return undefined;
  }

  /** Runs a control command against a server (the row's, else as running() finds it) and redraws the tree; errors become messages. */
  async control(command: 'add' | 'remove' | 'reload' | 'kill', pid?: number, on?: ServerHandle): Promise<unknown> {
    const server = on ?? (await this.running());
    if (!server) return undefined;
    try {
      const result = await server.control({ command, pid });
      const key = server.controlSocket;
      if (command === 'add' || command === 'remove') this.scaled.set(key, (this.scaled.get(key) ?? 0) + (command === 'add' ? 1 : -1));
      if (command === 'reload' && this.scaled.get(key)) {
        // A reload reads the configuration again: Add/Remove Worker lasted only until now.
        const configured = await this.configuredWorkers(server);
        void this.notify('info', `Unicorn: reloading — the worker count returns to the configuration's${configured ? ` ${configured}` : ''} (Add/Remove Worker last until a reload).`);
        this.scaled.delete(key);
      }
      await this.tree.refresh();
      return result;
    } catch (e) {
      void this.notify('error', `Unicorn ${command}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The worker count the configuration gives (the count before this window's Add/Remove Worker). */
  private async configuredWorkers(server: ServerHandle): Promise<number | undefined> {
    const n = server.lastStatus?.master.workers;
    const delta = this.scaled.get(server.controlSocket) ?? 0;
    return n === undefined ? undefined : n - delta;
  }

  private async pickWorker(title: string, on?: ServerHandle): Promise<WorkerStatus | undefined> {
    const server = on ?? (await this.running());
    const status = server && (await server.refreshStatus());
    if (!status) return undefined;
    if (status.workers.length === 1) return status.workers[0];
    const pick = await vscode.window.showQuickPick(
      status.workers.map((w) => ({ label: `worker ${w.pid}`, description: `${w.state} · ${w.requests} requests`, worker: w })),
      { title },
    );
    return pick?.worker;
  }

  /**
   * Attaches the debugger to a worker. With several workers the others stop taking new connections
   * while it is attached (the kernel hands them all to it, so the next request stops at a
   * breakpoint), and resume on detach; a message says so.
   */
  async attach(item?: WorkerItem | number, on?: ServerHandle): Promise<{ pid: number; port: number; focused: boolean } | undefined> {
    const server = item instanceof WorkerItem ? item.server : on ?? (await this.running());
    if (!server) return undefined;
    const pid = typeof item === 'number' ? item : item?.status.pid ?? (await this.pickWorker('Attach the debugger to which worker?', server))?.pid;
    if (pid === undefined) return undefined;
    try {
      const workers = (await server.refreshStatus())?.workers.length ?? 1;
      const { port, focused, othersAccepting, focus } = await this.debuggers.attach(server, pid, this.folder(), { focus: workers > 1 });
      await this.tree.refresh();
      if (focused && focus.length > 1) {
        // Several workers attached: they share the new connections, the rest wait.
        const others = focus.filter((p) => p !== pid);
        const waiting = workers - focus.length;
        void this.notify('info', `Unicorn: worker ${pid} is attached; new connections go to the workers being debugged (${[pid, ...others].join(', ')})${waiting > 0 ? ` — the other ${waiting} stop accepting until you detach` : ''}.`);
      } else if (focused) {
        void this.notify('info', `Unicorn: worker ${pid} is attached and now takes every new connection — the other ${workers - 1} stop accepting until you detach.`);
      } else if (othersAccepting.length) {
        // The other way to make the next request reach it: one worker (Reload returns to the configured count).
        void this.notify('warning', `Unicorn: worker ${pid} is attached, but ${othersAccepting.length} other worker(s) of this worker class keep accepting, so a request may go to them. Scale to this worker alone?`, 'Scale to 1 Worker').then(async (c) => {
          if (c) await server.control({ command: 'remove', count: othersAccepting.length }).then(() => this.tree.refresh(), (e: Error) => void this.notify('error', `Unicorn remove: ${e.message}`));
        });
      }
      return { pid, port, focused };
    } catch (e) {
      void this.notify('error', `Unicorn: attach to worker ${pid}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Opens (or shows) the live view of a server: the row's, else as running() finds it. */
  async showLiveView(item?: MasterItem): Promise<LiveView | undefined> {
    const server = item?.server ?? (await this.running());
    if (!server) return undefined;
    if (this.liveView?.server === server) {
      this.liveView.reveal();
      return this.liveView;
    }
    this.liveView?.dispose();
    const view = new LiveView(server);
    this.liveView = view;
    view.onDidDispose(() => {
      if (this.liveView === view) this.liveView = undefined;
    });
    return view;
  }

  async detach(item?: WorkerItem | number): Promise<void> {
    const pid = typeof item === 'number' ? item : item?.status.pid;
    const session = pid === undefined ? undefined : this.debuggers.sessionFor(pid);
    if (session) await vscode.debug.stopDebugging(session);
  }

  /** Choose the App to Serve: asks again which detected app Start runs (the choice is remembered per workspace). */
  async chooseApp(): Promise<string | undefined> {
    const folder = this.folder();
    if (!folder) return undefined;
    try {
      const chosen = await chooseAppAgain(folder, this.context.workspaceState);
      if (!chosen) return undefined;
      const label = describeCandidate(chosen).label;
      // What Start would run now: unicorn.app or the config file's wsgi_app come before the choice.
      const inv = await resolveInvocation(folder, this.context.workspaceState, this.interpreters, { interactive: false });
      const chosenWhat = chosen.kind === 'django' ? 'Django project' : label;
      const overridden = inv.what.startsWith(chosenWhat) ? '' : ` — but Start serves ${inv.what} (unicorn.app or the config file's wsgi_app come first) until that is removed`;
      const restart = this.server?.running ? ' (the running server keeps its app until you stop it and start again)' : '';
      void this.notify('info', `Unicorn: chose ${label}${overridden}${restart}.`);
      return label;
    } catch (e) {
      void this.notify('error', e instanceof InvocationError ? e.message : `Unicorn: ${(e as Error).message}`);
      return undefined;
    }
  }

  async openInBrowser(item?: MasterItem): Promise<void> {
    const server = item?.server ?? (await this.running());
    if (!server) return;
    const url = server.url ?? (await server.refreshStatus(), server.url);
    if (!url) {
      void this.notify('info', 'Unicorn: the server has no HTTP listener yet (still starting, or bound to a Unix socket only).');
      return;
    }
    // 0.0.0.0 / [::] are bind-all addresses, not ones a browser can open.
    const open = url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
    await vscode.env.openExternal(vscode.Uri.parse(open));
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function registerCommands(context: vscode.ExtensionContext, c: Controller): void {
  // Called from a row: that row's server; from the palette or a keybinding: as Controller.running() finds it.
  const serverOf = (arg: unknown) => (arg instanceof MasterItem || arg instanceof WorkerItem ? arg.server : undefined);
  const masterOrNothing = (arg: unknown) => (arg instanceof MasterItem ? arg : undefined);
  context.subscriptions.push(
    vscode.commands.registerCommand('unicorn.start', async (overrides?: { app?: string; args?: string[] }) => (await c.start(overrides ?? {}))?.pid),
    vscode.commands.registerCommand('unicorn.chooseApp', () => c.chooseApp()),
    vscode.commands.registerCommand('unicorn.stop', (arg?: unknown) => c.stop(masterOrNothing(arg))),
    vscode.commands.registerCommand('unicorn.reload', (arg?: unknown) => c.control('reload', undefined, serverOf(arg))),
    vscode.commands.registerCommand('unicorn.addWorker', (arg?: unknown) => c.control('add', undefined, serverOf(arg))),
    vscode.commands.registerCommand('unicorn.removeWorker', (arg?: unknown) => c.control('remove', undefined, serverOf(arg))),
    vscode.commands.registerCommand('unicorn.killWorker', async (item?: WorkerItem) => {
      const pid = item?.status.pid ?? (await pickPid(c));
      return pid === undefined ? undefined : c.control('kill', pid, serverOf(item));
    }),
    vscode.commands.registerCommand('unicorn.attachDebugger', (item?: WorkerItem | number) => c.attach(item)),
    vscode.commands.registerCommand('unicorn.detachDebugger', (item?: WorkerItem | number) => c.detach(item)),
    vscode.commands.registerCommand('unicorn.openInBrowser', (arg?: unknown) => c.openInBrowser(masterOrNothing(arg))),
    vscode.commands.registerCommand('unicorn.showLog', () => c.output.show()),
    vscode.commands.registerCommand('unicorn.showLiveView', async (arg?: unknown) => Boolean(await c.showLiveView(masterOrNothing(arg)))),
    vscode.commands.registerCommand('unicorn.refreshProcesses', () => c.tree.refresh()),
  );
}

async function pickPid(c: Controller): Promise<number | undefined> {
  const status = (c.server?.running ? c.server : c.tree.handles[0])?.lastStatus;
  if (!status) return undefined;
  const pick = await vscode.window.showQuickPick(status.workers.map((w) => ({ label: `worker ${w.pid}`, description: w.state, pid: w.pid })), {
    title: 'Kill which worker? (the arbiter starts a new one)',
  });
  return pick?.pid;
}

function registerDebugging(context: vscode.ExtensionContext, c: Controller): void {
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory(WORKER_DEBUG_TYPE, new WorkerAdapterFactory()),
    vscode.debug.registerDebugAdapterDescriptorFactory(LAUNCH_DEBUG_TYPE, {
      createDebugAdapterDescriptor: (session) =>
        new vscode.DebugAdapterInlineImplementation(
          new LaunchAdapter(
            session,
            (cfg) => c.start({ app: stringOr(cfg.app), args: Array.isArray(cfg.args) ? (cfg.args as string[]) : undefined }, false),
            () => c.stop(),
            c.debuggers,
          ),
        ),
    }),
    vscode.debug.registerDebugConfigurationProvider(LAUNCH_DEBUG_TYPE, {
      // F5 with no launch.json: serve the workspace as Start would.
      resolveDebugConfiguration(_folder, cfg) {
        if (!cfg.type && !cfg.request && !cfg.name) return { type: LAUNCH_DEBUG_TYPE, request: 'launch', name: 'Unicorn: serve and debug workers' };
        return cfg;
      },
      provideDebugConfigurations() {
        return [{ type: LAUNCH_DEBUG_TYPE, request: 'launch', name: 'Unicorn: serve and debug workers' }];
      },
    }),
  );
}

/** For the log's first line: where the interpreter came from. */
function describeSource(source: string): string {
  switch (source) {
    case 'python-extension':
      return "the Python extension's selected interpreter";
    case 'setting':
      return 'unicorn.python';
    case 'venv':
      return "the workspace's virtual environment";
    default:
      return 'python3 on PATH — select an interpreter in the Python extension or set unicorn.python to choose another';
  }
}

/** The module a failed start lacked ("No module named 'x'" in the log's last traceback), if that was it. */
export function missingModule(log: string): string | undefined {
  const all = [...log.matchAll(/No module named '([\w.]+)'/g)];
  return all.length ? all[all.length - 1][1].split('.')[0] : undefined;
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v : undefined;
}

/** The config files the language server checks: the two default names, and unicorn.configFile in each folder. */
function configFileSelector(): DocumentSelector {
  const selector: DocumentSelector = [
    { scheme: 'file', language: 'python', pattern: '**/unicorn.conf.py' },
    { scheme: 'file', language: 'python', pattern: '**/gunicorn.conf.py' },
  ];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const configFile = vscode.workspace.getConfiguration('unicorn', folder.uri).get<string>('configFile', '').trim();
    if (!configFile) continue;
    const pattern = path.isAbsolute(configFile) ? configFile : { baseUri: folder.uri.toString(), pattern: configFile };
    selector.push({ scheme: 'file', pattern });
  }
  return selector;
}

function startLanguageServer(context: vscode.ExtensionContext): LanguageClient {
  const serverModule = context.asAbsolutePath(path.join('dist', 'server', 'server.js'));
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc },
    // .vscode/launch.json "Attach to Server" connects to this port.
    debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
  };
  // The server is static (it parses, never runs workspace code), so it runs in untrusted
  // workspaces too; UNICORN_KERNEL_LIMITS in the extension host's environment reaches it.
  const clientOptions: LanguageClientOptions = { documentSelector: configFileSelector() };
  return new LanguageClient('unicorn', 'Unicorn Language Server', serverOptions, clientOptions);
}

/**
 * The commands behind the kernel-limit quick fixes (server/src/code-actions.ts). copyFix's argument is
 * the finding's runnable command when it has one, else its fix explanation; runFixInTerminal's is
 * always the runnable command (one shell command, no prose), offered only for findings that have one.
 */
function registerFixCommands(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COPY_FIX, async (text: string) => {
      await vscode.env.clipboard.writeText(text);
      void vscode.window.showInformationMessage(`Unicorn: copied to the clipboard: ${text}`);
    }),
    vscode.commands.registerCommand(RUN_FIX_IN_TERMINAL, async (command: string) => {
      const terminal = vscode.window.createTerminal('Unicorn: kernel fix');
      terminal.show();
      // Typed once the shell's prompt is up (text typed before it is echoed twice), not run: it
      // changes the machine (and most need root); the user reads it and presses Enter.
      const waited = await shellReady(terminal, 10_000);
      terminal.sendText(command, false);
      return waited;
    }),
  );
}

/**
 * Resolves once the terminal's shell has set up its prompt ('prompt': VS Code's shell integration
 * reported in), or after `ms` for shells without shell integration ('timeout'), whichever comes first.
 */
function shellReady(terminal: vscode.Terminal, ms: number): Promise<'prompt' | 'timeout'> {
  if (terminal.shellIntegration) return Promise.resolve('prompt');
  return new Promise((resolve) => {
    const timer = setTimeout(() => (sub.dispose(), resolve('timeout')), ms);
    const sub = vscode.window.onDidChangeTerminalShellIntegration((e) => {
      if (e.terminal !== terminal) return;
      clearTimeout(timer);
      sub.dispose();
      resolve('prompt');
    });
  });
}

export async function activate(context: vscode.ExtensionContext): Promise<UnicornApi> {
  const c = new Controller(context);
  controller = c;
  context.subscriptions.push(c);
  registerCommands(context, c);
  registerDebugging(context, c);
  registerFixCommands(context);
  context.subscriptions.push(
    vscode.tasks.registerTaskProvider(TASK_TYPE, new UnicornTaskProvider(context.extensionPath, context.workspaceState, c.interpreters)),
    // A task's server shows in the tree as soon as it has bound (discovery finds its control socket).
    vscode.tasks.onDidStartTaskProcess((e) => {
      if (e.execution.task.definition.type === TASK_TYPE) setTimeout(() => void c.tree.refresh(), 1000);
    }),
  );
  client = startLanguageServer(context);
  await client.start();
  // A new unicorn.configFile changes which documents the server sees: restart it with the new selector.
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration(async (e) => {
    if (!e.affectsConfiguration('unicorn.configFile')) return;
    await client?.stop();
    client = startLanguageServer(context);
    await client.start();
  }));
  return {
    processTree: c.tree,
    messages: () => c.shown,
    lastCheck: () => c.lastCheck,
    lastPickLabels: () => lastPick.labels,
    lastPickActive: () => lastPick.active,
    liveView: () => c.liveView,
    treeView: c.treeView,
    problems: c.problems,
    debuggers: c.debuggers,
    server: () => c.server,
    logText: () => c.logText,
    statusBarText: () => c.statusBar.text,
    canStart,
  };
}

export async function deactivate(): Promise<void> {
  // The server must not outlive the editor: graceful stop, bounded so that shutdown is not held up.
  const server = controller?.server;
  if (server?.running) await server.stop(5000);
  controller = undefined;
  await client?.stop();
  client = undefined;
}
