// Finds what to serve in a workspace folder without running any of its code: a Django project
// (manage.py) or modules with a top-level WSGI callable named `app` or `application`.
import fs from 'node:fs';
import path from 'node:path';

export type AppCandidate =
  | { kind: 'django'; /** Folder of manage.py, relative to the workspace folder ('' for itself). */ dir: string }
  | { kind: 'module'; /** MODULE:CALLABLE */ app: string; /** Where the module's top package lives, relative ('' for the folder). */ chdir: string; file: string };

/** A stable key for remembering the user's choice. */
export function candidateId(c: AppCandidate): string {
  return c.kind === 'django' ? `django:${c.dir}` : `module:${c.chdir}:${c.app}`;
}

export function describeCandidate(c: AppCandidate): { label: string; description: string } {
  if (c.kind === 'django') return { label: 'Django project', description: path.join(c.dir, 'manage.py') };
  return { label: c.app, description: c.chdir ? `in ${c.chdir}` : c.file };
}

const WSGI_NAMES = ['app', 'application'];

/**
 * The WSGI names a module binds at its top level, from a line scan: `def app(`, `app = …`,
 * `app: T = …`, `from x import app` (at column 0 only). A heuristic for offering choices — the
 * runtime imports the module for real on start and says so if the guess was wrong.
 */
export function topLevelWsgiNames(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    let m = /^(?:async\s+)?def\s+(app|application)\s*\(/.exec(line) ?? /^(app|application)\s*(?::[^=]*)?=(?!=)/.exec(line);
    if (m) {
      found.add(m[1]);
      continue;
    }
    m = /^from\s+[\w.]+\s+import\s+\(?([^#]*)/.exec(line);
    if (m) {
      for (const part of m[1].split(',')) {
        const bound = part.trim().split(/\s+as\s+/).pop()?.replace(/[()\\]/g, '').trim();
        if (bound && WSGI_NAMES.includes(bound)) found.add(bound);
      }
    }
  }
  return WSGI_NAMES.filter((n) => found.has(n)); // `app` first: the conventional name
}

/** True when a config file binds `wsgi_app` at its top level (then the runtime takes the app from it). */
export function configNamesApp(text: string): boolean {
  return /^wsgi_app\s*(?::[^=]*)?=(?!=)/m.test(text);
}

/** The module name for a file and the folder it is imported from: packages (dirs with __init__.py) are climbed. */
export function moduleFor(folder: string, file: string): { module: string; chdir: string } {
  const parts = [path.basename(file, '.py')];
  let dir = path.dirname(file);
  while (dir.startsWith(folder) && dir !== folder && fs.existsSync(path.join(dir, '__init__.py'))) {
    parts.unshift(path.basename(dir));
    dir = path.dirname(dir);
  }
  if (parts[parts.length - 1] === '__init__') parts.pop();
  return { module: parts.join('.'), chdir: path.relative(folder, dir) };
}

/**
 * An ASGI entry (Django's asgi.py, `async def app(scope, receive, send)`): not a WSGI app, so not
 * offered to the sync and gthread workers.
 */
export function isAsgiModule(text: string): boolean {
  return /get_asgi_application/.test(text) || /^async\s+def\s+(app|application)\s*\(/m.test(text);
}

const SKIP_FILES = new Set(['unicorn.conf.py', 'gunicorn.conf.py', 'setup.py', 'conftest.py', 'manage.py']);

/** Candidates from the folder's manage.py files and Python files (already listed by the caller). */
export function detectApps(folder: string, pythonFiles: string[], readText: (file: string) => string | undefined): AppCandidate[] {
  const out: AppCandidate[] = [];
  for (const file of pythonFiles) {
    if (path.basename(file) === 'manage.py') out.push({ kind: 'django', dir: path.relative(folder, path.dirname(file)) });
  }
  for (const file of pythonFiles) {
    if (SKIP_FILES.has(path.basename(file))) continue;
    const text = readText(file);
    if (text === undefined) continue;
    const names = topLevelWsgiNames(text);
    if (!names.length || isAsgiModule(text)) continue;
    const { module, chdir } = moduleFor(folder, file);
    // A Django project's own wsgi.py is what unicorn-django serves: not a second choice.
    if (names[0] === 'application' && /get_wsgi_application/.test(text) && out.some((c) => c.kind === 'django')) continue;
    out.push({ kind: 'module', app: `${module}:${names[0]}`, chdir, file: path.relative(folder, file) });
  }
  return out;
}
