// The language server for unicorn.conf.py / gunicorn.conf.py: diagnostics, hover, completion and
// quick fixes, all read statically from a tree-sitter parse.
//
// Workspace trust: the server never imports or runs workspace code (config files and app modules are
// parsed, not executed; no interpreter is started), so it is safe in any workspace.
//
// Kernel limits come from runtime/src/core/kernel.ts: probed from this machine, with UNICORN_KERNEL_LIMITS
// (a JSON object, e.g. {"somaxconn":128}) in the server's environment overriding them — tests inject
// values that way.
import { fileURLToPath } from 'node:url';
import type { Parser, Tree } from '@vscode/tree-sitter-wasm';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  CodeActionKind, InitializeResult, ProposedFeatures, TextDocumentSyncKind, TextDocuments, createConnection,
} from 'vscode-languageserver/node';
import { codeActions } from './code-actions';
import { complete } from './completion';
import { ConfigFile, readConfigFile } from './config-file';
import { diagnose } from './diagnostics';
import { hover } from './hover';
import { KernelCheck, probingKernelCheck } from './kernel-diagnostics';
import { parse, pythonParser } from './python';

// The transport (--node-ipc, --stdio, --socket) comes from the command line the client chose.
const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

let parser: Parser | undefined;
let kernel: KernelCheck | undefined;

/** The last parse of each open document; trees live in wasm memory and are freed explicitly. */
const parsed = new Map<string, { version: number; tree: Tree; file: ConfigFile }>();

function fileOf(doc: TextDocument): ConfigFile | undefined {
  if (!parser) return undefined;
  const hit = parsed.get(doc.uri);
  if (hit?.version === doc.version) return hit.file;
  hit?.tree.delete();
  const tree = parse(parser, doc.getText());
  const file = readConfigFile(tree);
  parsed.set(doc.uri, { version: doc.version, tree, file });
  return file;
}

function forget(uri: string): void {
  parsed.get(uri)?.tree.delete();
  parsed.delete(uri);
}

function configPath(uri: string): string | null {
  return uri.startsWith('file:') ? fileURLToPath(uri) : null;
}

/** Anything unexpected is logged and the request answered empty: a bad file never stops the server. */
function guarded<T>(what: string, fallback: T, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    connection.console.error(`unicorn language server: ${what} failed: ${(e as Error).stack ?? e}`);
    return fallback;
  }
}

function validate(doc: TextDocument): void {
  const file = fileOf(doc);
  if (!file) return;
  const diagnostics = guarded('diagnostics', [], () => diagnose(file, { configPath: configPath(doc.uri), parser: parser!, kernel }));
  void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics });
}

connection.onInitialize(async (): Promise<InitializeResult> => {
  parser = await pythonParser();
  try {
    kernel = probingKernelCheck();
  } catch (e) {
    // A bad UNICORN_KERNEL_LIMITS: say why once, and go on without kernel diagnostics.
    connection.console.error((e as Error).message);
  }
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: ['"', "'", ' '] },
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
    },
    serverInfo: { name: 'unicorn-language-server' },
  };
});

documents.onDidChangeContent((e) => guarded('parse', undefined, () => validate(e.document)));
documents.onDidClose((e) => {
  forget(e.document.uri);
  void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

connection.onHover((params) => guarded('hover', null, () => {
  const doc = documents.get(params.textDocument.uri);
  const file = doc && fileOf(doc);
  return file ? hover(file, params.position) : null;
}));

connection.onCompletion((params) => guarded('completion', [], () => {
  const doc = documents.get(params.textDocument.uri);
  const file = doc && fileOf(doc);
  return file ? complete(file, params.position) : [];
}));

connection.onCodeAction((params) => guarded('code actions', [], () => codeActions(params)));

process.on('uncaughtException', (e) => connection.console.error(`unicorn language server: ${e.stack ?? e}`));

documents.listen(connection);
connection.listen();
