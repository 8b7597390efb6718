// A language-server client for the tests and the benchmark: starts the real bundled server
// (dist/server/server.js, --stdio) and speaks LSP to it with vscode-languageserver-protocol.
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CodeAction, CodeActionRequest, Command, CompletionItem, CompletionList, CompletionRequest, Diagnostic,
  DidChangeTextDocumentNotification, DidCloseTextDocumentNotification, DidOpenTextDocumentNotification,
  ExitNotification, Hover, HoverRequest, InitializeRequest, InitializedNotification, ProtocolConnection,
  PublishDiagnosticsNotification, Range, ShutdownRequest, StreamMessageReader, StreamMessageWriter,
  createProtocolConnection,
} from 'vscode-languageserver-protocol/node';

/** A diagnostic as this server sends it: the message is plain text. */
export type Diag = Diagnostic & { message: string };

export const ROOT = path.resolve(__dirname, '..', '..');
export const SERVER = path.join(ROOT, 'dist', 'server', 'server.js');
export const LSP_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'lsp');

/** Limits no default setting outgrows, so that only the kernel tests see kernel findings. */
export const ROOMY_KERNEL = {
  platform: 'linux', somaxconn: 65535, tcpMaxSynBacklog: 65535, nofileSoft: 1048576, nofileHard: 1048576, portRange: [32768, 60999],
};

const WAIT_MS = 10_000;

export function fixture(...parts: string[]): { uri: string; text: string; file: string } {
  const file = path.join(LSP_FIXTURES, ...parts);
  return { uri: pathToFileURL(file).href, text: fs.readFileSync(file, 'utf8'), file };
}

export class LspServer {
  private readonly diagnostics = new Map<string, { version?: number; diagnostics: Diag[] }>();
  private readonly waiters: Array<() => void> = [];
  private readonly versions = new Map<string, number>();
  stderr = '';

  private constructor(
    readonly proc: ChildProcess,
    readonly connection: ProtocolConnection,
  ) {
    connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      const diagnostics = p.diagnostics.map((d) => ({ ...d, message: typeof d.message === 'string' ? d.message : d.message.value }));
      this.diagnostics.set(p.uri, { version: p.version, diagnostics });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Starts the server with the given kernel limits (UNICORN_KERNEL_LIMITS) and initializes it. */
  static async start(kernelLimits: object | string = ROOMY_KERNEL, env: Record<string, string> = {}, workspace = ROOT): Promise<LspServer> {
    if (!fs.existsSync(SERVER)) throw new Error(`${SERVER} is missing — run npm run build first`);
    const proc = spawn(process.execPath, [SERVER, '--stdio'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        UNICORN_KERNEL_LIMITS: typeof kernelLimits === 'string' ? kernelLimits : JSON.stringify(kernelLimits),
        WEB_CONCURRENCY: '',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const connection = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    const server = new LspServer(proc, connection);
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (server.stderr += d));
    connection.listen();
    await withTimeout(
      connection.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: pathToFileURL(workspace).href, capabilities: {}, workspaceFolders: null }),
      'initialize',
    );
    await connection.sendNotification(InitializedNotification.type, {});
    return server;
  }

  /** Opens a document and returns the diagnostics published for it. */
  async open(uri: string, text: string): Promise<Diag[]> {
    this.versions.set(uri, 1);
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
    return this.diagnosticsFor(uri, 1);
  }

  /** Replaces the whole text (a full-document change) and returns the new diagnostics. */
  async change(uri: string, text: string): Promise<Diag[]> {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version },
      contentChanges: [{ text }],
    });
    return this.diagnosticsFor(uri, version);
  }

  /** Applies one incremental edit, as an editor does on a keystroke. */
  async edit(uri: string, range: Range, text: string): Promise<Diag[]> {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version },
      contentChanges: [{ range, text }],
    });
    return this.diagnosticsFor(uri, version);
  }

  async close(uri: string): Promise<void> {
    await this.connection.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
  }

  /** The diagnostics published for a document version (or later). */
  diagnosticsFor(uri: string, version: number): Promise<Diag[]> {
    return this.waitFor(uri, (d) => d.version === undefined || d.version >= version, `v${version}`);
  }

  /** Waits for the server to clear a document's diagnostics (as it does on close). */
  async cleared(uri: string): Promise<void> {
    await this.waitFor(uri, (d) => d.version === undefined && d.diagnostics.length === 0, 'clearing');
  }

  private waitFor(uri: string, ok: (d: { version?: number; diagnostics: Diag[] }) => boolean, what: string): Promise<Diag[]> {
    return withTimeout(new Promise<Diag[]>((resolve) => {
      const check = () => {
        const d = this.diagnostics.get(uri);
        if (d && ok(d)) resolve(d.diagnostics);
        else this.waiters.push(check);
      };
      check();
    }), `diagnostics for ${uri} (${what})\n${this.stderr}`);
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return withTimeout(this.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character } }), 'hover');
  }

  async completion(uri: string, line: number, character: number): Promise<CompletionItem[]> {
    const r: CompletionList | CompletionItem[] | null = await withTimeout(
      this.connection.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line, character } }), 'completion');
    return r === null ? [] : Array.isArray(r) ? r : r.items;
  }

  async codeActions(uri: string, diagnostics: Diagnostic[]): Promise<CodeAction[]> {
    const r: Array<CodeAction | Command> | null = await withTimeout(this.connection.sendRequest(CodeActionRequest.type, {
      textDocument: { uri }, range: diagnostics[0].range, context: { diagnostics },
    }), 'code actions');
    return (r ?? []).filter((a): a is CodeAction => 'title' in a && !('command' in a && typeof a.command === 'string'));
  }

  /** shutdown + exit, then makes sure the process is gone. */
  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) resolve();
      else this.proc.once('exit', () => resolve());
    });
    try {
      await withTimeout(this.connection.sendRequest(ShutdownRequest.type), 'shutdown', 3000);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      // fall through to the kill
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    this.connection.dispose();
  }
}

function withTimeout<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`language server: no answer to ${what} within ${ms} ms`)), ms);
    }),
  ]);
}
