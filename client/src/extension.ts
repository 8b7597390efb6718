// The extension's entry point: the "Start Unicorn Server" command and the language client.
import { ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';

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

function startLanguageServer(context: vscode.ExtensionContext): LanguageClient {
  const serverModule = context.asAbsolutePath(path.join('dist', 'server', 'server.js'));
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc },
    // .vscode/launch.json "Attach to Server" connects to this port.
    debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'python', pattern: '**/unicorn.conf.py' },
      { scheme: 'file', language: 'python', pattern: '**/gunicorn.conf.py' },
    ],
  };
  return new LanguageClient('unicorn', 'Unicorn Language Server', serverOptions, clientOptions);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('Unicorn');
  context.subscriptions.push(output);
  context.subscriptions.push(vscode.commands.registerCommand('unicorn.start', () => start(context)));
  client = startLanguageServer(context);
  await client.start();
}

export async function deactivate(): Promise<void> {
  // TERM is the graceful stop: the arbiter lets workers finish their requests, then exits.
  server?.kill('SIGTERM');
  server = undefined;
  await client?.stop();
  client = undefined;
}
