// The extension's entry point: the "Start Unicorn Server" command and the language client.
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import * as vscode from 'vscode';
import { DocumentSelector, LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';

let output: vscode.OutputChannel | undefined;
let server: ChildProcess | undefined;
let client: LanguageClient | undefined;

/** The CLI args for the configured app; the runtime itself resolves config files and defaults. */
function cliArgs(config: vscode.WorkspaceConfiguration): string[] {
  const args: string[] = [];
  const python = config.get<string>('python', '').trim();
  if (python) args.push('--python', python);
  const app = config.get<string>('app', '').trim();
  if (app) args.push(app);
  return args;
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const out = output!;
  if (server && server.exitCode === null && server.signalCode === null) {
    out.show(true);
    void vscode.window.showInformationMessage(`Unicorn is already running (pid ${server.pid}).`);
    return;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showErrorMessage('Unicorn: open a folder first — the server runs in the workspace folder.');
    return;
  }
  const args = cliArgs(vscode.workspace.getConfiguration('unicorn', folder.uri));
  // runtime/bin/unicorn.js loads the bundled dist/runtime/cli.js, exactly as the `unicorn` command does.
  const bin = context.asAbsolutePath(path.join('runtime', 'bin', 'unicorn.js'));
  out.appendLine(`$ unicorn ${args.join(' ')}   (in ${folder.uri.fsPath})`);
  const child = fork(bin, args, { cwd: folder.uri.fsPath, silent: true });
  server = child;
  child.stdout?.setEncoding('utf8').on('data', (text: string) => out.append(text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => out.append(text));
  child.on('error', (e) => out.appendLine(`unicorn: could not start: ${e.message}`));
  child.on('exit', (code, signal) => {
    out.appendLine(`unicorn exited (${signal ? `signal ${signal}` : `code ${code}`})`);
    if (server === child) server = undefined;
  });
  out.show(true);
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
  // The server is static (it parses, never runs workspace code); UNICORN_KERNEL_LIMITS in the
  // extension host's environment reaches it through the inherited environment.
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
    vscode.commands.registerCommand('unicorn.copyFix', async (text: string) => {
      await vscode.env.clipboard.writeText(text);
      void vscode.window.showInformationMessage(`Unicorn: copied to the clipboard: ${text}`);
    }),
    vscode.commands.registerCommand('unicorn.runFixInTerminal', (command: string) => {
      const terminal = vscode.window.createTerminal('Unicorn: kernel fix');
      terminal.show();
      // Typed, not run: it changes the machine (and most need root); the user reads it and presses Enter.
      terminal.sendText(command, false);
    }),
  );
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('Unicorn');
  context.subscriptions.push(output);
  context.subscriptions.push(vscode.commands.registerCommand('unicorn.start', () => start(context)));
  registerFixCommands(context);
  client = startLanguageServer(context);
  await client.start();
  // A new unicorn.configFile changes which documents the server sees: restart it with the new selector.
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration(async (e) => {
    if (!e.affectsConfiguration('unicorn.configFile')) return;
    await client?.stop();
    client = startLanguageServer(context);
    await client.start();
  }));
}

export async function deactivate(): Promise<void> {
  // TERM is the graceful stop: the arbiter lets workers finish their requests, then exits.
  server?.kill('SIGTERM');
  server = undefined;
  await client?.stop();
  client = undefined;
}
