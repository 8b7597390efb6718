// The extension's entry point: commands, the process tree, worker debugging, the status bar,
// start-time problems, the `unicorn` task and launch types, and the language client.
import path from 'node:path';
import * as vscode from 'vscode';
import { DocumentSelector, LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { COPY_FIX, RUN_FIX_IN_TERMINAL, WorkerStatus } from '../../runtime/src/core/control-protocol';
import { ArbiterProcess, controlSocketFor } from './arbiter-process';
import { LAUNCH_DEBUG_TYPE, LaunchAdapter, WORKER_DEBUG_TYPE, WorkerAdapterFactory, WorkerDebugger } from './debug';
import { InterpreterFinder } from './interpreter';
import { Invocation, InvocationError, resolveInvocation } from './invocation';
import { appModuleFile, publish, runCheck } from './problems';
import { MasterItem, ProcessNode, ProcessTreeProvider, VIEW_ID, WorkerItem } from './process-tree';
import { ServerStatusBar } from './status-bar';
import { TASK_TYPE, UnicornTaskProvider } from './tasks';
import { StartDecision, canStart } from './trust';

/** What activate() returns: the handles the in-editor tests (and other extensions) read. */
export interface UnicornApi {
  readonly processTree: ProcessTreeProvider;
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
  readonly tree = new ProcessTreeProvider();
  readonly treeView = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: this.tree, showCollapseAll: false });
  readonly statusBar = new ServerStatusBar();
  readonly problems = vscode.languages.createDiagnosticCollection('unicorn-check');
  readonly interpreters = new InterpreterFinder();
  readonly debuggers = new WorkerDebugger();
  server: ArbiterProcess | undefined;
  private log = '';
  private starting: Promise<ArbiterProcess | undefined> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.tree.setVisible(this.treeView.visible);
    this.disposables.push(
      this.output, this.tree, this.treeView, this.statusBar, this.problems, this.interpreters, this.debuggers,
      this.treeView.onDidChangeVisibility((e) => this.tree.setVisible(e.visible)),
      this.interpreters.onDidChange(() => {
        if (this.server?.running) this.appendLog('unicorn: the selected Python interpreter changed — restart the server to use it\n');
      }),
    );
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
      void vscode.window.showErrorMessage(e instanceof InvocationError ? e.message : `Unicorn: ${(e as Error).message}`);
      return undefined;
    }
    const storage = (this.context.storageUri ?? this.context.globalStorageUri).fsPath;
    const check = runCheck(this.bin(inv), inv).then((result) => publish(this.problems, inv, result, appModuleFile(inv)));
    const server = new ArbiterProcess(inv, this.bin(inv), controlSocketFor(storage), (text) => this.appendLog(text));
    this.server = server;
    this.output.show(true);
    server.onDidChange(() => {
      this.statusBar.update(server);
      if (!server.running) this.onExit(server);
    });
    this.tree.setServer(server);
    this.statusBar.update(server);
    await check;
    // The control socket is up once the arbiter has bound; poll until it answers (or the server exits).
    for (let i = 0; i < 300 && server.running && !server.lastStatus; i++) {
      await server.refreshStatus();
      if (!server.lastStatus) await new Promise((r) => setTimeout(r, 100));
    }
    await this.tree.refresh();
    return server.running ? server : undefined;
  }

  private onExit(server: ArbiterProcess): void {
    if (this.server !== server) return;
    this.tree.setServer(undefined);
    const exit = server.exit;
    if (exit && exit.code !== 0 && exit.signal === null && !this.stopping) {
      void vscode.window.showErrorMessage(`Unicorn stopped with exit code ${exit.code} — see the log.`, 'Show Log').then((c) => {
        if (c) this.output.show();
      });
    }
  }

  private stopping = false;

  async stop(): Promise<void> {
    const server = this.server;
    if (!server?.running) return;
    this.stopping = true;
    try {
      await server.stop();
    } finally {
      this.stopping = false;
      this.tree.setServer(undefined);
      this.statusBar.update(undefined);
    }
  }

  private running(): ArbiterProcess | undefined {
    if (this.server?.running) return this.server;
    void vscode.window.showInformationMessage('Unicorn: no server is running — run "Start Unicorn Server" first.', 'Start').then((c) => {
      if (c) void vscode.commands.executeCommand('unicorn.start');
    });
    return undefined;
  }

  /** Runs a control command against the running server and redraws the tree; errors become messages. */
  async control(command: 'add' | 'remove' | 'reload' | 'kill', pid?: number): Promise<unknown> {
    const server = this.running();
    if (!server) return undefined;
    try {
      const result = await server.control({ command, pid });
      await this.tree.refresh();
      return result;
    } catch (e) {
      void vscode.window.showErrorMessage(`Unicorn ${command}: ${(e as Error).message}`);
      return undefined;
    }
  }

  private async pickWorker(title: string): Promise<WorkerStatus | undefined> {
    const server = this.running();
    const status = server && (await server.refreshStatus());
    if (!status) return undefined;
    if (status.workers.length === 1) return status.workers[0];
    const pick = await vscode.window.showQuickPick(
      status.workers.map((w) => ({ label: `worker ${w.pid}`, description: `${w.state} · ${w.requests} requests`, worker: w })),
      { title },
    );
    return pick?.worker;
  }

  async attach(item?: WorkerItem | number): Promise<{ pid: number; port: number } | undefined> {
    const pid = typeof item === 'number' ? item : item?.status.pid ?? (await this.pickWorker('Attach the debugger to which worker?'))?.pid;
    const server = this.running();
    if (!server || pid === undefined) return undefined;
    try {
      const { port } = await this.debuggers.attach(server, pid);
      await this.tree.refresh();
      return { pid, port };
    } catch (e) {
      void vscode.window.showErrorMessage(`Unicorn: attach to worker ${pid}: ${(e as Error).message}`);
      return undefined;
    }
  }

  async openInBrowser(): Promise<void> {
    const server = this.running();
    if (!server) return;
    const url = server.url ?? (await server.refreshStatus(), server.url);
    if (!url) {
      void vscode.window.showInformationMessage('Unicorn: the server has no HTTP listener yet (still starting, or bound to a Unix socket only).');
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
  const masterOrNothing = (arg: unknown) => (arg instanceof MasterItem ? arg : undefined);
  context.subscriptions.push(
    vscode.commands.registerCommand('unicorn.start', async () => (await c.start())?.pid),
    vscode.commands.registerCommand('unicorn.stop', () => c.stop()),
    vscode.commands.registerCommand('unicorn.reload', () => c.control('reload')),
    vscode.commands.registerCommand('unicorn.addWorker', (arg?: unknown) => (masterOrNothing(arg), c.control('add'))),
    vscode.commands.registerCommand('unicorn.removeWorker', (arg?: unknown) => (masterOrNothing(arg), c.control('remove'))),
    vscode.commands.registerCommand('unicorn.killWorker', async (item?: WorkerItem) => {
      const pid = item?.status.pid ?? (await pickPid(c));
      return pid === undefined ? undefined : c.control('kill', pid);
    }),
    vscode.commands.registerCommand('unicorn.attachDebugger', (item?: WorkerItem | number) => c.attach(item)),
    vscode.commands.registerCommand('unicorn.openInBrowser', () => c.openInBrowser()),
    vscode.commands.registerCommand('unicorn.showLog', () => c.output.show()),
    vscode.commands.registerCommand('unicorn.refreshProcesses', () => c.tree.refresh()),
  );
}

async function pickPid(c: Controller): Promise<number | undefined> {
  const status = c.server?.lastStatus;
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
    vscode.commands.registerCommand(RUN_FIX_IN_TERMINAL, (command: string) => {
      const terminal = vscode.window.createTerminal('Unicorn: kernel fix');
      terminal.show();
      // Typed, not run: it changes the machine (and most need root); the user reads it and presses Enter.
      terminal.sendText(command, false);
    }),
  );
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
