// Diagnostics for one config file: every check the runtime would make at boot, with the runtime's
// own words (the registry's coerce(), parseAddress), each on the range of the culprit.
import path from 'node:path';
import type { Parser } from '@vscode/tree-sitter-wasm';
import { Diagnostic, DiagnosticSeverity, Range } from 'vscode-languageserver/node';
import { CliError } from '../../runtime/src/core/errors';
import { parseAddress } from '../../runtime/src/core/address';
import {
  DIRTY_HOOKS, HOOKS, Setting, SettingError, annotationOnly, coerce, effectiveWorkerClass, getSetting, ignoredWarning, nameHint, suggest, valueHint,
} from '../../runtime/src/core/settings';
import { AppKind, findModule, moduleNames, parseAppSpec, searchPath, sitePackages } from './app-entrypoint';
import { Assignment, ConfigFile, literal } from './config-file';
import { KernelCheck, kernelDiagnostics } from './kernel-diagnostics';
import { FixData, SOURCE, rangeOf } from './problem';
import type { Node } from './python';

export interface DiagnoseContext {
  /** The config file's path on disk (for chdir, pythonpath and wsgi_app), when it has one. */
  configPath: string | null;
  /** The workspace folders that hold the config file: where the server is likely started from. */
  workspaceFolders?: string[];
  parser: Parser;
  kernel: KernelCheck | undefined;
}

function problem(node: Node | Range, message: string, code: string, severity: DiagnosticSeverity = DiagnosticSeverity.Error,
  data?: FixData): Diagnostic {
  const range = 'startPosition' in node ? rangeOf(node) : node;
  return { range, message, code, severity, source: SOURCE, ...(data ? { data } : {}) };
}

const ELEMENT_TYPES = new Set(['list', 'tuple', 'set']);
const elements = (node: Node) => node.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment');

/** The last readable assignment of each name (the value Python would end with, when it is spelt out). */
function lastAssignments(file: ConfigFile): Map<string, Assignment> {
  const out = new Map<string, Assignment>();
  for (const a of file.assignments) out.set(a.name, a);
  return out;
}

const isHookName = (name: string) => name in HOOKS || (DIRTY_HOOKS as readonly string[]).includes(name);

/** A name that is not a setting: nothing for a helper variable, a warning for a likely mistake. */
function nameProblem(file: ConfigFile, name: string, node: Node, callable: boolean): Diagnostic | undefined {
  if (file.reads.has(name)) return undefined; // the file reads it: its own helper
  const hint = nameHint(name, callable);
  if (!hint) return undefined;
  return problem(node, hint.message, hint.kind === 'old-hook' ? 'old-hook' : hint.kind === 'retired' ? 'retired-setting' : 'unknown-setting',
    DiagnosticSeverity.Warning, hint.replacement ? { kind: 'replace', title: `Change to ${hint.replacement}`, text: hint.replacement } : undefined);
}

export function diagnose(file: ConfigFile, ctx: DiagnoseContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const values = new Map<string, unknown>();
  const computed = new Set<string>();
  for (const a of file.assignments) {
    if (a.broken) continue;
    const setting = getSetting(a.name);
    if (!setting) {
      if (!isHookName(a.name)) {
        const d = nameProblem(file, a.name, a.nameNode, false);
        if (d) out.push(d);
      }
      continue;
    }
    if (setting.name === 'config') {
      out.push(problem(a.nameNode, 'config: a config file cannot name another config file — pass -c on the command line', 'invalid-value'));
      continue;
    }
    if (setting.name === 'bind' && a.valueNode) out.push(...bindEntries(a.valueNode));
    if (a.value.kind === 'computed' || !a.valueNode) {
      // Not guessed at; and a later literal assignment must not stand for it either.
      computed.add(a.name);
      values.delete(a.name);
      continue;
    }
    const raw = a.value.value;
    const err = settingError(setting, raw);
    if (err) {
      // gunicorn accepts its own settings; Unicorn refusing one is a warning that says the start will stop.
      const refused = err.problem.startsWith('not supported');
      const near = setting.type === 'enum' && typeof raw === 'string' ? suggest(raw.trim(), setting.choices!) : undefined;
      const fix: FixData | undefined = near ? { kind: 'replace', title: `Change to "${near}"`, text: JSON.stringify(near) } : undefined;
      out.push(problem(culprit(setting, a.valueNode), refused ? `${err.message} (unicorn refuses to start with it)` : err.message,
        refused ? 'not-supported' : 'invalid-value', refused ? DiagnosticSeverity.Warning : DiagnosticSeverity.Error, fix));
      continue;
    }
    computed.delete(a.name);
    values.set(a.name, coerce(setting, raw));
    const ignored = ignoredWarning(setting, values.get(a.name));
    if (ignored) out.push(problem(a.nameNode, ignored, 'no-effect', DiagnosticSeverity.Warning));
    const spelled = stringlyTyped(setting, raw);
    if (spelled !== undefined) {
      out.push(problem(a.valueNode, `${setting.name}: ${JSON.stringify(raw)} is a string — write ${setting.name} = ${spelled}`,
        'string-value', DiagnosticSeverity.Warning, { kind: 'replace', title: `Write ${spelled}`, text: spelled }));
    }
    out.push(...valueHints(setting, raw, a.valueNode));
  }
  for (const n of file.annotations) {
    if (!getSetting(n.name) && !isHookName(n.name)) continue;
    const text = n.statement.text.replace(/\s*:\s*/, ' = ');
    out.push(problem(n.statement, annotationOnly(n.name),
      'annotation-only', DiagnosticSeverity.Warning, { kind: 'replace', title: `Write ${text}`, text }));
  }
  for (const f of file.functions) {
    if (isHookName(f.name) || getSetting(f.name)) continue;
    const d = nameProblem(file, f.name, f.nameNode, true);
    if (d) out.push(d);
  }
  out.push(...appDiagnostics(file, values, computed, ctx));
  if (ctx.kernel) out.push(...kernelDiagnostics(ctx.kernel, file, values, computed));
  return out;
}

/** Values that are valid yet probably not what was meant. */
function valueHints(setting: Setting, raw: unknown, node: Node): Diagnostic[] {
  const hint = valueHint(setting, raw);
  if (!hint) return [];
  return [problem(node, hint.message, hint.code, hint.severity === 'info' ? DiagnosticSeverity.Information : DiagnosticSeverity.Warning,
    hint.replacement ? { kind: 'replace', title: `Write ${hint.replacement}`, text: hint.replacement } : undefined)];
}

function settingError(setting: Setting, raw: unknown): SettingError | undefined {
  try {
    coerce(setting, raw);
    return undefined;
  } catch (e) {
    if (e instanceof SettingError) return e;
    throw e;
  }
}

/** For a list with one bad entry, the entry; otherwise the whole value. */
function culprit(setting: Setting, value: Node): Node {
  if ((setting.type === 'list' || setting.type === 'addresses') && ELEMENT_TYPES.has(value.type)) {
    const bad = elements(value).find((e) => {
      const v = literal(e);
      return v.kind === 'literal' && typeof v.value !== 'string';
    });
    if (bad) return bad;
  }
  return value;
}

/** A number or bool written as a string, which the runtime accepts (as gunicorn does) but reads oddly. */
function stringlyTyped(setting: Setting, raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const value = coerce(setting, raw);
  if (setting.type === 'int') return String(value);
  if (setting.type === 'bool') return value ? 'True' : 'False';
  return undefined;
}

/** Each literal bind entry through the runtime's own parser, on the entry's range. */
function bindEntries(value: Node): Diagnostic[] {
  const entries = ELEMENT_TYPES.has(value.type) ? elements(value) : [value];
  const out: Diagnostic[] = [];
  for (const entry of entries) {
    const v = literal(entry);
    if (v.kind !== 'literal' || typeof v.value !== 'string' || v.value.trim() === '') continue;
    try {
      parseAddress(v.value.trim());
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      out.push(problem(entry, e.message, 'bind'));
    }
  }
  return out;
}

/** A WSGI app under worker_class asgi, or an ASGI app under the WSGI classes (the worker refuses both at boot). */
function appKindDiagnostics(node: Node, callable: string, kind: AppKind | undefined, values: Map<string, unknown>,
  computed: Set<string>): Diagnostic[] {
  if (!kind || callable.includes('.') || computed.has('worker_class') || computed.has('threads')) return [];
  const klass = effectiveWorkerClass({ worker_class: values.get('worker_class') ?? 'sync', threads: values.get('threads') ?? 1 });
  if (klass === 'asgi' && kind === 'wsgi') {
    return [problem(node, `wsgi_app: "${callable}" is a WSGI app but worker_class asgi serves ASGI apps — set worker_class = "gthread" (or sync, gevent), or name the project's ASGI app`, 'app-kind')];
  }
  if (klass !== 'asgi' && kind === 'asgi') {
    return [problem(node, `wsgi_app: "${callable}" is an ASGI app but worker_class ${klass} serves WSGI apps — set worker_class = "asgi"`, 'app-kind')];
  }
  return [];
}

/** wsgi_app: the module must be importable from chdir / pythonpath and define the callable. */
function appDiagnostics(file: ConfigFile, values: Map<string, unknown>, computed: Set<string>, ctx: DiagnoseContext): Diagnostic[] {
  const app = lastAssignments(file).get('wsgi_app');
  const spec = values.get('wsgi_app');
  if (!app?.valueNode || typeof spec !== 'string' || computed.has('wsgi_app')) return [];
  const parsed = parseAppSpec(spec);
  if (!parsed) {
    return [problem(app.valueNode, `wsgi_app: "${spec}" is not MODULE:CALLABLE — write it like test:app, mypkg.wsgi:application or app:create_app()`, 'wsgi-app')];
  }
  // Where the module is depends on chdir and pythonpath; if either is computed, so is the answer.
  if (!ctx.configPath || computed.has('chdir') || computed.has('pythonpath')) return [];
  const configDir = path.dirname(ctx.configPath);
  // The server starts in the workspace folder (the editor) or beside the config file (a shell): chdir is
  // taken from there, and without chdir either is where the app may be.
  const starts = [...new Set([...(ctx.workspaceFolders ?? []), configDir])];
  const chdir = (values.get('chdir') as string | null) ?? null;
  const pythonpath = (values.get('pythonpath') as string | null) ?? null;
  const wheres = starts.map((start) => searchPath(start, chdir, pythonpath));
  let moduleFile: string | undefined;
  for (const [i, where] of wheres.entries()) {
    moduleFile = findModule(parsed.module, [...where.dirs, ...sitePackages([starts[i], where.chdir])]);
    if (moduleFile) break;
  }
  if (!moduleFile) {
    const dirs = [...new Set(wheres.flatMap((w) => w.dirs))];
    return [problem(app.valueNode, `wsgi_app: no module "${parsed.module}" in ${dirs.join(', ')} — set chdir or pythonpath to the folder that holds it`,
      'wsgi-app', DiagnosticSeverity.Warning)];
  }
  const names = moduleNames(ctx.parser, moduleFile);
  const first = parsed.callable.split('.')[0];
  if (names && names.names.has(first)) return appKindDiagnostics(app.valueNode, parsed.callable, names.kinds.get(first), values, computed);
  if (!names || names.open || names.broken) return [];
  return [problem(app.valueNode, `wsgi_app: "${first}" is not defined at the top level of ${path.relative(configDir, moduleFile) || moduleFile} — define it there or name the right callable after the colon`,
    'wsgi-app')];
}
