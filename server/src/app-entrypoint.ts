// The static check of `wsgi_app`: find the module on chdir / pythonpath and look for the callable
// among the module's top-level names. The module is parsed, never imported or run.
import fs from 'node:fs';
import path from 'node:path';
import type { Parser } from '@vscode/tree-sitter-wasm';
import { Node, parse } from './python';

export { parseAppSpec } from '../../runtime/src/core/appspec';
export type { AppSpec } from '../../runtime/src/core/appspec';

/** The file that `import MODULE` would load from one of the directories, if any. */
export function findModule(module: string, dirs: string[]): string | undefined {
  const rel = path.join(...module.split('.'));
  for (const dir of dirs) {
    for (const candidate of [path.join(dir, `${rel}.py`), path.join(dir, rel, '__init__.py')]) {
      if (isFile(candidate)) return candidate;
    }
  }
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** What a module binds at its top level, as far as its source says. */
export interface ModuleNames {
  names: Set<string>;
  /** `from x import *` or a module `__getattr__`: any name may exist. */
  open: boolean;
  /** The source has syntax errors: an absent name proves nothing. */
  broken: boolean;
  /** Names whose app kind the source shows: `async def`, a WSGI `def app(environ, start_response)`, or
   * an assignment from a framework's constructor (FastAPI(), Flask(), get_asgi_application(), ...). */
  kinds: Map<string, AppKind>;
}

export type AppKind = 'asgi' | 'wsgi';

/** Constructors whose result is known to be an ASGI or a WSGI app (the last dotted part of the call). */
const APP_CONSTRUCTORS: Record<string, AppKind> = {
  FastAPI: 'asgi', Starlette: 'asgi', Quart: 'asgi', get_asgi_application: 'asgi', ASGIHandler: 'asgi', Litestar: 'asgi',
  Flask: 'wsgi', Bottle: 'wsgi', get_wsgi_application: 'wsgi', WSGIHandler: 'wsgi', Falcon: 'wsgi', Pyramid: 'wsgi',
};

const cache = new Map<string, { stamp: string; names: ModuleNames }>();

/** The module's top-level names, parsed once per version of the file. */
export function moduleNames(parser: Parser, file: string): ModuleNames | undefined {
  let stat: fs.Stats;
  let text: string;
  try {
    stat = fs.statSync(file);
    const stamp = `${stat.mtimeMs}:${stat.size}`;
    const hit = cache.get(file);
    if (hit?.stamp === stamp) return hit.names;
    text = fs.readFileSync(file, 'utf8');
    const tree = parse(parser, text);
    try {
      const names: ModuleNames = { names: new Set(), open: false, broken: tree.rootNode.hasError, kinds: new Map() };
      collect(tree.rootNode, names);
      if (names.names.has('__getattr__')) names.open = true;
      cache.set(file, { stamp, names });
      return names;
    } finally {
      tree.delete();
    }
  } catch {
    return undefined; // unreadable: say nothing rather than guess
  }
}

/** Blocks that run at module level bind module names too (if/try/with/for/while). */
const COMPOUND = new Set(['if_statement', 'elif_clause', 'else_clause', 'try_statement', 'except_clause',
  'except_group_clause', 'finally_clause', 'with_statement', 'for_statement', 'while_statement', 'block']);

function collect(parent: Node, out: ModuleNames): void {
  for (const node of parent.namedChildren) {
    if (!node) continue;
    switch (node.type) {
      case 'function_definition':
        addName(node.childForFieldName('name'), out);
        functionKind(node, out);
        break;
      case 'class_definition':
        addName(node.childForFieldName('name'), out);
        break;
      case 'decorated_definition':
        addName(node.childForFieldName('definition')?.childForFieldName('name') ?? null, out);
        break;
      case 'expression_statement':
        for (const child of node.namedChildren) if (child) assigned(child, out);
        break;
      case 'import_statement':
        for (const child of node.childrenForFieldName('name')) {
          if (!child) continue;
          if (child.type === 'aliased_import') addName(child.childForFieldName('alias'), out);
          else out.names.add(child.text.split('.')[0]);
        }
        break;
      case 'import_from_statement':
        if (node.namedChildren.some((c) => c?.type === 'wildcard_import')) out.open = true;
        for (const child of node.childrenForFieldName('name')) {
          if (!child) continue;
          if (child.type === 'aliased_import') addName(child.childForFieldName('alias'), out);
          else out.names.add(child.text);
        }
        break;
      default:
        if (COMPOUND.has(node.type)) {
          collect(node, out);
          if (node.type === 'for_statement') targets(node.childForFieldName('left'), out);
        }
    }
  }
}

/** `async def app(scope, receive, send)` is ASGI; `def app(environ, start_response)` is WSGI. */
function functionKind(node: Node, out: ModuleNames): void {
  const name = node.childForFieldName('name')?.text;
  if (!name) return;
  if (node.children.some((c) => c?.type === 'async')) out.kinds.set(name, 'asgi');
  else if ((node.childForFieldName('parameters')?.namedChildren.length ?? 0) === 2) out.kinds.set(name, 'wsgi');
}

/** `app = FastAPI(...)`, `application = get_wsgi_application()`: the kind of app the constructor makes. */
function assignmentKind(node: Node, out: ModuleNames): void {
  const left = node.childForFieldName('left');
  const right = node.childForFieldName('right');
  if (left?.type !== 'identifier' || right?.type !== 'call') return;
  const callee = right.childForFieldName('function')?.text.split('.').pop() ?? '';
  const kind = APP_CONSTRUCTORS[callee];
  if (kind) out.kinds.set(left.text, kind);
  else out.kinds.delete(left.text);
}

function assigned(node: Node, out: ModuleNames): void {
  if (node.type === 'assignment') assignmentKind(node, out);
  let cur: Node | null = node;
  while (cur && (cur.type === 'assignment' || cur.type === 'augmented_assignment')) {
    targets(cur.childForFieldName('left'), out);
    cur = cur.childForFieldName('right');
  }
}

function targets(node: Node | null, out: ModuleNames): void {
  if (!node) return;
  if (node.type === 'identifier') out.names.add(node.text);
  else if (['pattern_list', 'tuple_pattern', 'list_pattern', 'tuple', 'list', 'parenthesized_expression'].includes(node.type)) {
    for (const child of node.namedChildren) targets(child, out);
  }
}

function addName(node: Node | null, out: ModuleNames): void {
  if (node) out.names.add(node.text);
}

/** Where the runtime looks for the app: chdir first, then each pythonpath entry (relative to chdir). */
export function searchPath(configDir: string, chdir: string | null, pythonpath: string | null): { chdir: string; dirs: string[] } {
  const dir = path.resolve(configDir, chdir ?? '.');
  const extra = (pythonpath ?? '').split(',').map((p) => p.trim()).filter(Boolean).map((p) => path.resolve(dir, p));
  return { chdir: dir, dirs: [dir, ...extra] };
}

/** Installed packages the workers would also see: a virtualenv beside the project. */
export function sitePackages(roots: string[]): string[] {
  const out: string[] = [];
  for (const root of new Set(roots)) {
    for (const venv of ['.venv', 'venv']) {
      const lib = path.join(root, venv, 'lib');
      let entries: string[];
      try {
        entries = fs.readdirSync(lib);
      } catch {
        continue;
      }
      for (const e of entries) if (e.startsWith('python')) out.push(path.join(lib, e, 'site-packages'));
    }
  }
  return out;
}
