// Quick fixes for the server's own diagnostics: the edit or the command each one carries in its data.
import { CodeAction, CodeActionKind, CodeActionParams, Diagnostic } from 'vscode-languageserver/node';
import { FixData, SOURCE } from './problem';

/** Client-side commands (client/src/extension.ts registers them); their one argument is the fix text. */
export const COPY_FIX = 'unicorn.copyFix';
export const RUN_FIX_IN_TERMINAL = 'unicorn.runFixInTerminal';

function fixData(d: Diagnostic): FixData | undefined {
  const data = d.data as FixData | undefined;
  return d.source === SOURCE && data && typeof data === 'object' && (data.kind === 'replace' || data.kind === 'command') ? data : undefined;
}

export function codeActions(params: CodeActionParams): CodeAction[] {
  const out: CodeAction[] = [];
  for (const d of params.context.diagnostics) {
    const data = fixData(d);
    if (!data) continue;
    if (data.kind === 'replace') {
      out.push({
        title: data.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d],
        isPreferred: true,
        edit: { changes: { [params.textDocument.uri]: [{ range: d.range, newText: data.text }] } },
      });
    } else {
      out.push(
        { title: 'Copy the fix to the clipboard', kind: CodeActionKind.QuickFix, diagnostics: [d],
          command: { title: 'Copy the fix to the clipboard', command: COPY_FIX, arguments: [data.fix] } },
        { title: 'Open a terminal with the fix', kind: CodeActionKind.QuickFix, diagnostics: [d],
          command: { title: 'Open a terminal with the fix', command: RUN_FIX_IN_TERMINAL, arguments: [data.fix] } },
      );
    }
  }
  return out;
}
