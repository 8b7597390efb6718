// The layering the design promises: the extension (client/) and the language server (server/) import
// from runtime/src only its pure core (runtime/src/core/), and the core imports nothing with side
// effects (no fs, child_process, sockets' servers, logger, or runtime module outside core). Every
// import is read with the TypeScript parser: static imports, re-exports, import() and require().
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');
const RUNTIME_SRC = path.join(ROOT, 'runtime/src');
const CORE = path.join(RUNTIME_SRC, 'core');

interface Import {
  specifier: string;
  /** `import type` / `export type`: erased at build time, so it brings no code along. */
  typeOnly: boolean;
  line: number;
}

/** Every module specifier a source file names. */
export function importsOf(fileName: string, text: string): Import[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const add = (spec: ts.Expression, typeOnly: boolean) => {
    if (ts.isStringLiteralLike(spec)) out.push({ specifier: spec.text, typeOnly, line: sf.getLineAndCharacterOfPosition(spec.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) add(node.moduleSpecifier, Boolean(node.importClause?.isTypeOnly));
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression, node.isTypeOnly);
    else if (ts.isCallExpression(node) && node.arguments.length === 1) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, true);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Imports from `file` (client/ or server/) that reach into runtime/src outside its core, as "file:line: specifier". */
export function editorViolations(file: string, text: string): string[] {
  return importsOf(file, text)
    .filter((i) => i.specifier.startsWith('.'))
    .map((i) => ({ ...i, target: path.resolve(path.dirname(file), i.specifier) }))
    .filter((i) => (i.target + path.sep).startsWith(RUNTIME_SRC + path.sep) && !(i.target + path.sep).startsWith(CORE + path.sep))
    .map((i) => `${path.relative(ROOT, file)}:${i.line}: ${i.specifier}`);
}

/** Node modules the core may use: computing paths, telling IP addresses apart; nothing that writes, runs or listens. */
const CORE_NODE_MODULES = new Set(['node:path', 'node:os', 'node:net']);
/** npm packages the core may use: pure parsers. */
const CORE_PACKAGES = new Set(['commander', 'shell-quote']);

/** Imports of a core module that bring side effects (type-only imports are erased, so they are allowed). */
export function coreViolations(file: string, text: string): string[] {
  return importsOf(file, text)
    .filter((i) => !i.typeOnly)
    .filter((i) => {
      if (i.specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(file), i.specifier);
        return !(target + path.sep).startsWith(CORE + path.sep);
      }
      return !CORE_NODE_MODULES.has(i.specifier) && !CORE_PACKAGES.has(i.specifier);
    })
    .map((i) => `${path.relative(ROOT, file)}:${i.line}: ${i.specifier}`);
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

describe('layering', () => {
  test('client/ and server/ import from runtime/src only its core', () => {
    const files = [...sources(path.join(ROOT, 'client/src')), ...sources(path.join(ROOT, 'server/src'))];
    assert.ok(files.length > 10, `found only ${files.length} source files`);
    const bad = files.flatMap((f) => editorViolations(f, fs.readFileSync(f, 'utf8')));
    assert.deepEqual(bad, [], `move what these need into runtime/src/core/ (pure) or into their own folder:\n${bad.join('\n')}`);
    // The rule is not vacuous: they do use the core.
    const usesCore = files.filter((f) => importsOf(f, fs.readFileSync(f, 'utf8')).some((i) => i.specifier.includes('runtime/src/core/')));
    assert.ok(usesCore.length >= 5, `only ${usesCore.length} editor files import the core`);
  });

  test('runtime/src/core imports nothing with side effects', () => {
    const files = sources(CORE);
    assert.ok(files.length >= 7, `found only ${files.length} core modules`);
    const bad = files.flatMap((f) => coreViolations(f, fs.readFileSync(f, 'utf8')));
    assert.deepEqual(bad, [], `the core must stay pure (no fs, processes, logging, runtime modules):\n${bad.join('\n')}`);
  });

  test('the checks see every form of import', () => {
    const file = path.join(ROOT, 'client/src/example.ts');
    const text = [
      "import { a } from '../../runtime/src/core/settings';",
      "import { b } from '../../runtime/src/listeners';",
      "export { c } from '../../runtime/src/control';",
      "import type { D } from '../../runtime/src/log';",
      "const e = require('../../runtime/src/python');",
      "async function f() { return import('../../runtime/src/arbiter'); }",
      "import { g } from './own';",
    ].join('\n');
    assert.deepEqual(editorViolations(file, text), [
      'client/src/example.ts:2: ../../runtime/src/listeners',
      'client/src/example.ts:3: ../../runtime/src/control',
      'client/src/example.ts:4: ../../runtime/src/log',
      'client/src/example.ts:5: ../../runtime/src/python',
      'client/src/example.ts:6: ../../runtime/src/arbiter',
    ]);
    const core = path.join(CORE, 'example.ts');
    const coreText = [
      "import fs from 'node:fs';",
      "import type { Logger } from '../log';",
      "import { Logger as L } from '../log';",
      "import path from 'node:path';",
      "import { SETTINGS } from './settings';",
      "import { spawn } from 'child_process';",
    ].join('\n');
    assert.deepEqual(coreViolations(core, coreText), [
      'runtime/src/core/example.ts:1: node:fs',
      'runtime/src/core/example.ts:3: ../log',
      'runtime/src/core/example.ts:6: child_process',
    ]);
  });
});
