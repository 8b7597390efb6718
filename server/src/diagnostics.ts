// Diagnostics for one config file: every check the runtime would make at boot, with the runtime's
// own words (the registry's coerce(), parseAddress), each on the range of the culprit.
import path from 'node:path';
import type { Parser } from '@vscode/tree-sitter-wasm';
import { Diagnostic, DiagnosticSeverity, Range } from 'vscode-languageserver/node';
import { CliError } from '../../runtime/src/core/errors';
import { parseAddress } from '../../runtime/src/core/address';
import {
  Setting, SettingError, coerce, effectiveWorkerClass, getSetting, isHelperName, suggest, suggestSetting, unknownSettingError,
} from '../../runtime/src/core/settings';
import { AppKind, findModule, moduleNames, parseAppSpec, searchPath, sitePackages } from './app-entrypoint';
import { Assignment, ConfigFile, literal } from './config-file';
import { KernelCheck, kernelDiagnostics } from './kernel-diagnostics';
import { FixData, SOURCE, rangeOf } from './problem';
import type { Node } from './python';

export interface DiagnoseContext {
  /** The config file's path on disk (for chdir, pythonpath and wsgi_app), when it has one. */
  configPath: string | null;
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

export function diagnose(file: ConfigFile, ctx: DiagnoseContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  const values = new Map<string, unknown>();
  const computed = new Set<string>();
  for (const a of file.assignments) {
    if (a.broken || isHelperName(a.name)) continue;
    const setting = getSetting(a.name);
    if (!setting) {
      const err = unknownSettingError(a.name);
      const hint = suggestSetting(a.name);
      out.push(problem(a.nameNode, err.message, 'unknown-setting', DiagnosticSeverity.Error,
        hint ? { kind: 'replace', title: `Change to ${hint}`, text: hint } : undefined));
      continue;
    }
    if (setting.name === 'config') {
      out.push(problem(a.nameNode, 'config: a config file cannot name another config file — pass -c on the command line', 'invalid-value'));
      continue;
    }
    if (setting.unsupported) {
      out.push(problem(a.nameNode, settingError(setting, null)!.message, 'not-supported'));
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
      // bind's entries were checked one by one above; the list as a whole is what coerce judges.
      const near = setting.type === 'enum' && typeof raw === 'string' ? suggest(raw.trim(), setting.choices!) : undefined;
      const fix: FixData | undefined = near ? { kind: 'replace', title: `Change to "${near}"`, text: JSON.stringify(near) } : undefined;
      out.push(problem(culprit(setting, a.valueNode), err.message, err.problem.startsWith('not supported yet') ? 'not-supported' : 'invalid-value',
        DiagnosticSeverity.Error, fix));
      continue;
    }
    computed.delete(a.name);
    values.set(a.name, coerce(setting, raw));
    const spelled = stringlyTyped(setting, raw);
    if (spelled !== undefined) {
      out.push(problem(a.valueNode, `${setting.name}: ${JSON.stringify(raw)} is a string — write ${setting.name} = ${spelled}`,
        'string-value', DiagnosticSeverity.Warning, { kind: 'replace', title: `Write ${spelled}`, text: spelled }));
    }
  }
  out.push(...appDiagnostics(file, values, computed, ctx));
  if (ctx.kernel) out.push(...kernelDiagnostics(ctx.kernel, file, values, computed));
  return out;
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
  const where = searchPath(configDir, (values.get('chdir') as string | null) ?? null, (values.get('pythonpath') as string | null) ?? null);
  const moduleFile = findModule(parsed.module, [...where.dirs, ...sitePackages([configDir, where.chdir])]);
  if (!moduleFile) {
    const looked = where.dirs.length > 1 ? `chdir (${where.chdir}) or pythonpath (${where.dirs.slice(1).join(', ')})` : `chdir (${where.chdir})`;
    return [problem(app.valueNode, `wsgi_app: no module "${parsed.module}" in ${looked} — set chdir or pythonpath to the folder that holds it`,
      'wsgi-app', DiagnosticSeverity.Warning)];
  }
  const names = moduleNames(ctx.parser, moduleFile);
  const first = parsed.callable.split('.')[0];
  if (names && names.names.has(first)) return appKindDiagnostics(app.valueNode, parsed.callable, names.kinds.get(first), values, computed);
  if (!names || names.open || names.broken) return [];
  return [problem(app.valueNode, `wsgi_app: "${first}" is not defined at the top level of ${path.relative(configDir, moduleFile) || moduleFile} — define it there or name the right callable after the colon`,
    'wsgi-app')];
}
