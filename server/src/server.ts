// The language server for unicorn.conf.py / gunicorn.conf.py: for now it only tracks open documents.
import { TextDocument } from 'vscode-languageserver-textdocument';
import { InitializeResult, ProposedFeatures, TextDocumentSyncKind, TextDocuments, createConnection } from 'vscode-languageserver/node';

// The transport (--node-ipc, --stdio, --socket) comes from the command line the client chose.
const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

connection.onInitialize(
  (): InitializeResult => ({
    capabilities: { textDocumentSync: TextDocumentSyncKind.Incremental },
    serverInfo: { name: 'unicorn-language-server' },
  }),
);

documents.listen(connection);
connection.listen();
