// App entrypoints (`MODULE`, `MODULE:CALLABLE`, `MODULE:FACTORY(ARGS)`), split the way the worker's loader
// splits them; the CLI validates with it and the language server checks the module statically.

export interface AppSpec {
  module: string;
  /** The attribute path, `application` when the spec names only a module. */
  callable: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const dotted = (s: string) => s.split('.').every((p) => IDENT.test(p));

/** Splits MODULE:CALLABLE / MODULE:FACTORY(ARGS) / MODULE the way the worker's loader does. */
export function parseAppSpec(spec: string): AppSpec | undefined {
  const colon = spec.indexOf(':');
  const module = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  let expr = colon < 0 ? '' : spec.slice(colon + 1).trim();
  if (!module || !dotted(module)) return undefined;
  if (!expr) expr = 'application';
  const paren = expr.indexOf('(');
  if (paren >= 0) {
    if (!expr.endsWith(')')) return undefined;
    expr = expr.slice(0, paren).trim();
  }
  return dotted(expr) ? { module, callable: expr } : undefined;
}
