// Completion at the top level of a config file: setting names, hook definitions, and the values of
// enum and bool settings. The line being typed is usually broken Python, so the context comes from
// the tree's tokens on that line (tree-sitter keeps them even inside ERROR nodes).
import { CompletionItem, CompletionItemKind, InsertTextFormat, MarkupKind, Position, Range } from 'vscode-languageserver/node';
import { HOOKS, SETTINGS, getSetting } from '../../runtime/src/core/settings';
import type { ConfigFile } from './config-file';
import { defaultText, hookMarkdown, settingMarkdown } from './hover';
import type { Node } from './python';

/** The tokens (leaves) of one line that start before the cursor, in order. */
function tokensBefore(root: Node, position: Position): Node[] | undefined {
  const out: Node[] = [];
  let spansIn = false;
  const visit = (node: Node) => {
    if (node.endPosition.row < position.line || node.startPosition.row > position.line) return;
    if (node.childCount === 0) {
      if (node.isMissing) return;
      if (node.startPosition.row < position.line) spansIn = true; // inside a multi-line string or the like
      else if (node.startPosition.column < position.character) out.push(node);
      return;
    }
    for (const child of node.children) if (child) visit(child);
  };
  visit(root);
  return spansIn ? undefined : out.sort((a, b) => a.startIndex - b.startIndex);
}

const endsAtCursor = (node: Node, position: Position) =>
  node.endPosition.row === position.line && node.endPosition.column === position.character;

const at = (position: Position, from?: Node): Range => ({
  start: from ? { line: from.startPosition.row, character: from.startPosition.column } : position,
  end: position,
});

export function complete(file: ConfigFile, position: Position): CompletionItem[] {
  const tokens = tokensBefore(file.tree.rootNode, position);
  if (!tokens) return [];
  const [first, second] = tokens;
  // Nothing yet, or a name being typed at column 0: a setting or a hook.
  if (!first) return position.character === 0 ? [...settingItems(at(position)), ...hookItems(at(position), true)] : [];
  if (first.startPosition.column !== 0) return []; // indented: inside a function or a block
  if (tokens.length === 1 && first.type === 'identifier' && endsAtCursor(first, position)) {
    return [...settingItems(at(position, first)), ...hookItems(at(position, first), true)];
  }
  if (first.type === 'def' && (tokens.length === 1 || (tokens.length === 2 && second.type === 'identifier' && endsAtCursor(second, position)))) {
    return hookItems(at(position, tokens.length === 2 ? second : undefined), false);
  }
  if (first.type === 'identifier' && second?.type === '=') return valueItems(first.text, tokens.slice(2), position);
  return [];
}

function settingItems(range: Range): CompletionItem[] {
  return SETTINGS.filter((s) => !s.unsupported && s.name !== 'config').map((s) => ({
    label: s.name,
    kind: CompletionItemKind.Property,
    detail: `${s.section} · default ${defaultText(s)}`,
    documentation: { kind: MarkupKind.Markdown, value: settingMarkdown(s) },
    textEdit: { range, newText: s.name },
  }));
}

function hookItems(range: Range, withDef: boolean): CompletionItem[] {
  return Object.entries(HOOKS).map(([name, signature]) => ({
    label: name,
    kind: CompletionItemKind.Function,
    detail: `def ${signature}`,
    documentation: { kind: MarkupKind.Markdown, value: hookMarkdown(name) },
    insertTextFormat: InsertTextFormat.Snippet,
    textEdit: { range, newText: `${withDef ? 'def ' : ''}${signature}:\n    \${0:pass}` },
    filterText: name,
  }));
}

/** After `name =`: the choices of an enum setting (quoted unless typed inside quotes), True/False for a bool. */
function valueItems(name: string, rest: Node[], position: Position): CompletionItem[] {
  const setting = getSetting(name);
  if (!setting || setting.unsupported) return [];
  let open: Node | undefined; // the string_start of a string still open at the cursor
  for (const t of rest) {
    if (t.type === 'string_start') open = t;
    else if (t.type === 'string_end') open = undefined;
  }
  if (setting.type === 'enum') {
    const range: Range = open
      ? { start: { line: open.endPosition.row, character: open.endPosition.column }, end: position }
      : at(position, rest[0]);
    return setting.choices!.map((choice, i) => ({
      label: choice,
      kind: CompletionItemKind.EnumMember,
      detail: setting.unsupportedChoices?.[choice] ? `not supported yet: ${setting.unsupportedChoices[choice]}` : `${name} value`,
      sortText: String(i).padStart(3, '0'),
      textEdit: { range, newText: open ? choice : JSON.stringify(choice) },
    }));
  }
  if (setting.type === 'bool' && !open) {
    return ['True', 'False'].map((v) => ({ label: v, kind: CompletionItemKind.Keyword, textEdit: { range: at(position, rest[0]), newText: v } }));
  }
  return [];
}
