// The Python parser: tree-sitter (wasm) with the Python grammar, loaded once per process.
import fs from 'node:fs';
import path from 'node:path';
import { Language, Node, Parser, Tree } from '@vscode/tree-sitter-wasm';

export type { Node, Tree };

const RUNTIME_WASM = 'tree-sitter.wasm';
const PYTHON_WASM = 'tree-sitter-python.wasm';

/**
 * Where the wasm files are: beside the bundled server (esbuild.js copies them into dist/server),
 * else in the package itself (running from source).
 */
function wasmDir(): string {
  const candidates = [__dirname, path.resolve(__dirname, '..', '..', 'node_modules', '@vscode', 'tree-sitter-wasm', 'wasm')];
  const found = candidates.find((d) => fs.existsSync(path.join(d, PYTHON_WASM)) && fs.existsSync(path.join(d, RUNTIME_WASM)));
  if (!found) throw new Error(`${PYTHON_WASM} not found in ${candidates.join(' or ')} — run npm run build`);
  return found;
}

let loading: Promise<Parser> | undefined;

/** The one parser of this process (parsing is synchronous, so one is enough). */
export function pythonParser(): Promise<Parser> {
  loading ??= (async () => {
    const dir = wasmDir();
    await Parser.init({ locateFile: (file: string) => path.join(dir, file) });
    const python = await Language.load(path.join(dir, PYTHON_WASM));
    const parser = new Parser();
    parser.setLanguage(python);
    return parser;
  })();
  return loading;
}

/** Parses source text; tree-sitter always returns a tree, with ERROR nodes where the text is broken. */
export function parse(parser: Parser, text: string): Tree {
  const tree = parser.parse(text);
  if (!tree) throw new Error('tree-sitter returned no tree');
  return tree;
}
