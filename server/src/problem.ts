// What every diagnostic of the server shares: its source, its range from a syntax node, and the
// data a quick fix reads back.
import type { Range } from 'vscode-languageserver/node';
import type { Node } from './python';

export const SOURCE = 'unicorn';

/** What a quick fix needs, carried in Diagnostic.data. */
export type FixData =
  | { kind: 'replace'; title: string; text: string }
  /** A kernel finding's fix: the explanation, and the one runnable shell command when there is one. */
  | { kind: 'command'; fix: string; command?: string; lower?: LowerEdit };

/** A kernel finding's other fix: lower the setting's value to what the kernel allows (an edit in the file). */
export interface LowerEdit {
  setting: string;
  value: number;
  range: Range;
}

/** A node's range; tree-sitter's columns are UTF-16 code units, as LSP's are. */
export function rangeOf(node: Node): Range {
  return {
    start: { line: node.startPosition.row, character: node.startPosition.column },
    end: { line: node.endPosition.row, character: node.endPosition.column },
  };
}
