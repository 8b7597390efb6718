// What a config file sets, read statically from its syntax tree: module-level assignments (settings)
// and function definitions (hooks), with literal values evaluated and anything else left alone.
import { DIRTY_HOOKS, HOOKS } from '../../runtime/src/core/settings';
import type { Node, Tree } from './python';

/** Names the runtime takes as hooks when they hold a callable, wherever it was defined. */
const HOOK_NAMES = new Set([...Object.keys(HOOKS), ...DIRTY_HOOKS]);

/** A value the config file spells as a literal, or `computed` when only running it would tell. */
export type Value = { kind: 'literal'; value: unknown } | { kind: 'computed' };

const COMPUTED: Value = { kind: 'computed' };

export interface Assignment {
  name: string;
  /** The target identifier. */
  nameNode: Node;
  /** The whole statement: where diagnostics about the setting as a whole go. */
  statement: Node;
  /** The right-hand side, when the name is assigned as a whole (not unpacked, not augmented). */
  valueNode: Node | null;
  value: Value;
  /** The statement is broken (syntax errors inside): nothing about it is reported. */
  broken: boolean;
}

export interface FunctionDefinition {
  name: string;
  nameNode: Node;
  node: Node;
}

/** `name: type` with no value: an annotation, which binds nothing. */
export interface Annotation {
  name: string;
  nameNode: Node;
  statement: Node;
}

export interface ConfigFile {
  tree: Tree;
  assignments: Assignment[];
  annotations: Annotation[];
  /** Names the file reads somewhere (a helper's name, whatever it looks like). */
  reads: Set<string>;
  /** Module-level functions (and lambdas assigned to a name): the runtime sees them as callables. */
  functions: FunctionDefinition[];
}

/** Statements whose blocks still run at module level, so their assignments set module names. */
const COMPOUND = new Set(['if_statement', 'elif_clause', 'else_clause', 'try_statement', 'except_clause',
  'except_group_clause', 'finally_clause', 'with_statement', 'for_statement', 'while_statement', 'block']);

export function readConfigFile(tree: Tree): ConfigFile {
  const out: ConfigFile = { tree, assignments: [], annotations: [], functions: [], reads: new Set() };
  walkStatements(tree.rootNode, out);
  const bound = new Set([...out.assignments, ...out.annotations, ...out.functions].map((b) => b.nameNode.startIndex));
  for (const id of tree.rootNode.descendantsOfType('identifier')) {
    if (id && !bound.has(id.startIndex) && isRead(id)) out.reads.add(id.text);
  }
  return out;
}

/** An identifier that reads a variable (not a parameter, keyword, attribute or assignment target). */
function isRead(id: Node): boolean {
  const parent = id.parent;
  if (!parent) return false;
  if (['parameters', 'lambda_parameters', 'typed_parameter', 'default_parameter', 'typed_default_parameter',
    'function_definition', 'class_definition', 'aliased_import', 'dotted_name'].includes(parent.type)) return false;
  if (parent.type === 'keyword_argument' && parent.childForFieldName('name')?.startIndex === id.startIndex) return false;
  if (parent.type === 'attribute' && parent.childForFieldName('attribute')?.startIndex === id.startIndex) return false;
  if ((parent.type === 'assignment' || parent.type === 'augmented_assignment') && parent.childForFieldName('left')?.startIndex === id.startIndex) {
    return parent.type === 'augmented_assignment';
  }
  return true;
}

function walkStatements(parent: Node, out: ConfigFile): void {
  for (const node of parent.namedChildren) {
    if (!node) continue;
    if (node.type === 'expression_statement') {
      for (const child of node.namedChildren) if (child) statement(node, child, out);
    } else if (node.type === 'function_definition' || node.type === 'class_definition' || node.type === 'decorated_definition') {
      const def = node.type === 'decorated_definition' ? node.childForFieldName('definition') : node;
      const name = def?.childForFieldName('name');
      if (def?.type === 'function_definition' && name && !node.hasError) {
        out.functions.push({ name: name.text, nameNode: name, node });
      }
    } else if (COMPOUND.has(node.type)) {
      walkStatements(node, out);
    }
    // ERROR nodes, imports and everything else bind nothing we can read.
  }
}

function statement(stmt: Node, node: Node, out: ConfigFile): void {
  const broken = stmt.hasError;
  if (node.type === 'assignment') {
    // a = b = 5 nests: assignment(left a, right assignment(left b, right 5)).
    const targets: Node[] = [];
    let cur: Node | null = node;
    while (cur?.type === 'assignment') {
      const left = cur.childForFieldName('left');
      if (left) targets.push(left);
      const right: Node | null = cur.childForFieldName('right');
      if (right?.type !== 'assignment') {
        // `name: int` without a value binds nothing (`workers: 2` looks like a setting and sets none).
        if (!right) {
          if (!broken && targets.length === 1 && targets[0].type === 'identifier') {
            out.annotations.push({ name: targets[0].text, nameNode: targets[0], statement: stmt });
          }
          return;
        }
        for (const t of targets) bind(t, right, stmt, broken, out);
        return;
      }
      cur = right;
    }
  } else if (node.type === 'augmented_assignment') {
    const left = node.childForFieldName('left');
    if (left) bind(left, null, stmt, broken, out);
  }
}

function bind(target: Node, value: Node | null, stmt: Node, broken: boolean, out: ConfigFile): void {
  if (target.type === 'identifier') {
    // A lambda, or a hook taken from another module (on_starting = Config.on_starting): a callable.
    if (value?.type === 'lambda' || (value && HOOK_NAMES.has(target.text) && ['attribute', 'identifier', 'call'].includes(value.type))) {
      out.functions.push({ name: target.text, nameNode: target, node: stmt });
      return;
    }
    out.assignments.push({
      name: target.text, nameNode: target, statement: stmt, valueNode: value,
      value: value && !broken ? literal(value) : COMPUTED, broken,
    });
    return;
  }
  // Unpacking (a, b = ...): the names are set, the values are not readable one by one.
  if (['pattern_list', 'tuple_pattern', 'list_pattern', 'tuple', 'list', 'parenthesized_expression'].includes(target.type)) {
    for (const child of target.namedChildren) if (child) bind(child, null, stmt, broken, out);
  }
  // Attributes and subscripts (os.environ["X"] = ...) bind no module name.
}

// --- Literal evaluation: what Python's json.dumps of the value would give, when it is spelt out ----

/** The value of a literal expression, as the runtime would receive it in JSON; computed otherwise. */
export function literal(node: Node): Value {
  const v = evaluate(node, true);
  return v === NOT_LITERAL ? COMPUTED : { kind: 'literal', value: v };
}

const NOT_LITERAL = Symbol('not a literal');
type Evaluated = unknown | typeof NOT_LITERAL;

function evaluate(node: Node, topLevel = false): Evaluated {
  switch (node.type) {
    case 'integer':
      return integer(node.text);
    case 'float': {
      const t = node.text.replace(/_/g, '');
      if (/[jJ]$/.test(t)) return NOT_LITERAL;
      const n = Number(t);
      return Number.isFinite(n) ? n : NOT_LITERAL;
    }
    case 'true':
      return true;
    case 'false':
      return false;
    case 'none':
      return null;
    case 'string':
      return string(node);
    case 'concatenated_string': {
      let s = '';
      for (const part of node.namedChildren) {
        if (!part || part.type === 'comment') continue;
        const v = string(part);
        if (typeof v !== 'string') return NOT_LITERAL;
        s += v;
      }
      return s;
    }
    case 'unary_operator': {
      const op = node.childForFieldName('operator')?.text;
      const arg = node.childForFieldName('argument');
      const v = arg ? evaluate(arg) : NOT_LITERAL;
      if (typeof v !== 'number') return NOT_LITERAL;
      return op === '-' ? -v : op === '+' ? v : NOT_LITERAL;
    }
    case 'parenthesized_expression': {
      const inner = node.namedChildren.filter((c) => c && c.type !== 'comment');
      return inner.length === 1 && inner[0] ? evaluate(inner[0], topLevel) : NOT_LITERAL;
    }
    case 'list':
    case 'tuple':
      return sequence(node);
    case 'set':
      // The config loader turns a top-level set into a list; nested ones are not JSON.
      return topLevel ? sequence(node) : NOT_LITERAL;
    case 'dictionary': {
      const out: Record<string, unknown> = {};
      for (const pair of node.namedChildren) {
        if (!pair || pair.type === 'comment') continue;
        if (pair.type !== 'pair') return NOT_LITERAL;
        const k = pair.childForFieldName('key');
        const v = pair.childForFieldName('value');
        const key = k ? evaluate(k) : NOT_LITERAL;
        const value = v ? evaluate(v) : NOT_LITERAL;
        if (typeof key !== 'string' || value === NOT_LITERAL) return NOT_LITERAL;
        out[key] = value;
      }
      return out;
    }
    default:
      return NOT_LITERAL;
  }
}

function sequence(node: Node): Evaluated {
  const out: unknown[] = [];
  for (const item of node.namedChildren) {
    if (!item || item.type === 'comment') continue;
    const v = evaluate(item);
    if (v === NOT_LITERAL) return NOT_LITERAL;
    out.push(v);
  }
  return out;
}

function integer(text: string): Evaluated {
  const t = text.replace(/_/g, '').toLowerCase();
  if (t.endsWith('j') || t.endsWith('l')) return NOT_LITERAL;
  let n: number;
  if (t.startsWith('0x')) n = parseInt(t.slice(2), 16);
  else if (t.startsWith('0o')) n = parseInt(t.slice(2), 8);
  else if (t.startsWith('0b')) n = parseInt(t.slice(2), 2);
  else n = Number(t);
  return Number.isSafeInteger(n) ? n : NOT_LITERAL;
}

/** A string literal's value; bytes and f-strings with replacement fields are not literals. */
function string(node: Node): Evaluated {
  if (node.type !== 'string') return NOT_LITERAL;
  const start = node.children.find((c) => c?.type === 'string_start');
  const end = node.children.find((c) => c?.type === 'string_end');
  if (!start || !end) return NOT_LITERAL;
  const prefix = start.text.replace(/['"]/g, '').toLowerCase();
  if (prefix.includes('b')) return NOT_LITERAL;
  if (node.descendantsOfType('interpolation').length) return NOT_LITERAL;
  let body = node.text.slice(start.text.length, node.text.length - end.text.length);
  if (prefix.includes('f')) body = body.replace(/\{\{/g, '{').replace(/\}\}/g, '}');
  return prefix.includes('r') ? body : unescape(body);
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\n': '',
};

function unescape(body: string): Evaluated {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) return out + c;
    if (e in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[e];
      i++;
    } else if (e >= '0' && e <= '7') {
      let j = i + 1;
      while (j < body.length && j < i + 4 && body[j] >= '0' && body[j] <= '7') j++;
      out += String.fromCodePoint(parseInt(body.slice(i + 1, j), 8));
      i = j - 1;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + len);
      if (hex.length !== len || Number.isNaN(parseInt(hex, 16))) return NOT_LITERAL;
      out += String.fromCodePoint(parseInt(hex, 16));
      i += 1 + len;
    } else if (e === 'N') {
      return NOT_LITERAL; // \N{NAME}: needs Python's Unicode name table
    } else {
      out += c + e; // Python keeps unknown escapes as written
      i++;
    }
  }
  return out;
}
