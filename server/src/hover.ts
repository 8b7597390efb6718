// Hover on a setting or a server hook: its doc, default and command-line flags, from the registry.
import { Hover, MarkupKind, Position } from 'vscode-languageserver/node';
import { HOOKS, Setting, getSetting, hookSide, sidesText } from '../../runtime/src/core/settings';
import type { ConfigFile } from './config-file';
import { rangeOf } from './problem';

/** How the default reads: the registry's wording where it has one, else the value in Python. */
export function defaultText(setting: Setting): string {
  if (setting.defaultText) return setting.defaultText;
  return pythonLiteral(setting.default);
}

function pythonLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'function') return '(computed)';
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

/** The markdown the hover and the completion items show for a setting. */
export function settingMarkdown(setting: Setting): string {
  const flags = setting.flags.length
    ? setting.flags.map((f) => `\`${f}${setting.metavar ? ` ${setting.metavar}` : ''}\``).join(', ')
    : 'config file only';
  const lines = [`**${setting.name}** — ${setting.section}, ${sidesText(setting.side)}`, '', setting.doc, ''];
  if (setting.choices) lines.push(`Values: ${setting.choices.map((c) => `\`${c}\`${setting.unsupportedChoices?.[c] ? ' (not supported yet)' : ''}`).join(', ')}`, '');
  if (setting.min !== undefined) lines.push(`At least ${setting.min}.`, '');
  lines.push(`Default: \`${defaultText(setting)}\` · Command line: ${flags}`);
  if (setting.unsupported) lines.push('', `**Not supported yet:** ${setting.unsupported}.`);
  return lines.join('\n');
}

export function hookMarkdown(name: string): string {
  const where = hookSide(name) === 'worker'
    ? 'Runs in each worker process, as in gunicorn.'
    : 'Runs on the arbiter\'s behalf, in a Python process kept beside it.';
  return ['```python', `def ${HOOKS[name]}:`, '```', '', `gunicorn's \`${name}\` server hook. ${where}`].join('\n');
}

export function hover(file: ConfigFile, position: Position): Hover | null {
  const node = file.tree.rootNode.descendantForPosition({ row: position.line, column: position.character });
  if (!node || node.type !== 'identifier') return null;
  const fn = file.functions.find((f) => f.nameNode.startIndex === node.startIndex);
  if (fn) {
    return fn.name in HOOKS ? { contents: { kind: MarkupKind.Markdown, value: hookMarkdown(fn.name) }, range: rangeOf(node) } : null;
  }
  const assignment = file.assignments.find((a) => a.nameNode.startIndex === node.startIndex);
  const setting = assignment && getSetting(assignment.name);
  if (!setting) return null;
  return { contents: { kind: MarkupKind.Markdown, value: settingMarkdown(setting) }, range: rangeOf(node) };
}
