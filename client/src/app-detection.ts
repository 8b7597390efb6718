// Finds what to serve in a workspace folder without running any of its code: a Django project
// (manage.py) or modules with a top-level callable named `app` or `application`, each a WSGI or an
// ASGI app (the ASGI ones are served by `-k asgi`).
import fs from 'node:fs';
import path from 'node:path';

export type AppCandidate =
  | { kind: 'django'; /** Folder of manage.py, relative to the workspace folder ('' for itself). */ dir: string }
  | {
      kind: 'module';
      /** MODULE:CALLABLE */ app: string;
      /** Where the module's top package lives, relative ('' for the folder). */ chdir: string;
      file: string;
      /** Which worker classes serve it: WSGI (sync, gthread, gevent) or ASGI (asgi). */
      protocol: AppProtocol;
    };

export type AppProtocol = 'wsgi' | 'asgi';

/** A stable key for remembering the user's choice. */
export function candidateId(c: AppCandidate): string {
  return c.kind === 'django' ? `django:${c.dir}` : `module:${c.chdir}:${c.app}`;
}

export function describeCandidate(c: AppCandidate): { label: string; description: string } {
  if (c.kind === 'django') return { label: 'Django project', description: path.join(c.dir, 'manage.py') };
  const where = c.chdir ? `in ${c.chdir}` : c.file;
  return { label: c.app, description: c.protocol === 'asgi' ? `ASGI, runs with -k asgi · ${where}` : where };
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

/** The file a module is imported from, relative to `base` (a module file or a package's __init__.py), if it exists. */
export function moduleFile(base: string, module: string): string | undefined {
  const rel = path.join(...module.split('.'));
  return [`${rel}.py`, path.join(rel, '__init__.py')].map((f) => path.join(base, f)).find((f) => fs.existsSync(f));
}

/**
 * Whether a module's `app` / `application` is an ASGI app, from a line scan (a heuristic, like the
 * names: the worker checks the real object at boot and names the worker class that fits): Django's
 * asgi.py, an `async def app(scope, receive, send)`, an app built by FastAPI/Starlette/Quart/Litestar,
 * or a module that imports one of those and no WSGI framework.
 */
export function appProtocol(text: string): AppProtocol {
  if (/get_asgi_application/.test(text) || /^async\s+def\s+(app|application)\s*\(/m.test(text)) return 'asgi';
  if (/^(?:app|application)\s*(?::[^=]*)?=\s*(?:[\w.]+\.)?(?:FastAPI|Starlette|Quart|Litestar)\s*\(/m.test(text)) return 'asgi';
  const importsAsgi = /^(?:from|import)\s+(?:fastapi|starlette|quart|litestar)\b/m.test(text);
  const importsWsgi = /^(?:from|import)\s+(?:flask|bottle|pyramid|falcon|django\.core\.wsgi)\b/m.test(text);
  return importsAsgi && !importsWsgi ? 'asgi' : 'wsgi';
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
    if (!names.length) continue;
    const { module, chdir } = moduleFor(folder, file);
    // A Django project's own wsgi.py is what unicorn-django serves: not a second choice.
    if (names[0] === 'application' && /get_wsgi_application/.test(text) && out.some((c) => c.kind === 'django')) continue;
    out.push({ kind: 'module', app: `${module}:${names[0]}`, chdir, file: path.relative(folder, file), protocol: appProtocol(text) });
  }
  return out;
}
