// Quick fixes for the server's own diagnostics: the edit or the command each one carries in its data.
import { CodeAction, CodeActionKind, CodeActionParams, Diagnostic } from 'vscode-languageserver/node';
import { COPY_FIX, RUN_FIX_IN_TERMINAL } from '../../runtime/src/core/control-protocol';
import { FixData, SOURCE } from './problem';

// Client-side commands (client/src/extension.ts registers them), each with one text argument.
// Copy: the finding's runnable command when it has one (what gets pasted into a shell), else its fix explanation.
// Run in terminal: the runnable command, offered only when the finding has one (the explanation is not runnable).

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
      if (data.lower) {
        // The edit that needs no root: the setting down to what the kernel allows.
        const title = `Lower ${data.lower.setting} to ${data.lower.value} (the kernel's limit)`;
        out.push({ title, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true,
          edit: { changes: { [params.textDocument.uri]: [{ range: data.lower.range, newText: String(data.lower.value) }] } } });
      }
      const command = typeof data.command === 'string' && data.command ? data.command : undefined;
      const copy = command ? `Copy the command to the clipboard: ${command}` : 'Copy the fix to the clipboard';
      out.push({ title: copy, kind: CodeActionKind.QuickFix, diagnostics: [d],
        command: { title: copy, command: COPY_FIX, arguments: [command ?? data.fix] } });
      if (command) {
        const run = `Open a terminal with the command: ${command}`;
        out.push({ title: run, kind: CodeActionKind.QuickFix, diagnostics: [d],
          command: { title: run, command: RUN_FIX_IN_TERMINAL, arguments: [command] } });
      }
    }
  }
  return out;
}
