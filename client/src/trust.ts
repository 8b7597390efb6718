// The Workspace Trust decision, kept apart from the editor so that tests can check both answers.

export type StartDecision = { ok: true } | { ok: false; reason: string };

/**
 * Whether Unicorn may start a server. Starting runs the workspace's Python (its config file and
 * its app), so an untrusted workspace never starts one; the language server, which only parses,
 * keeps working there (package.json declares "limited" support).
 */
export function canStart(isTrusted: boolean): StartDecision {
  if (isTrusted) return { ok: true };
  return {
    ok: false,
    reason:
      'Unicorn: this workspace is not trusted, so no server starts — starting one runs its config file and ' +
      'its Python app. Trust the workspace (Workspaces: Manage Workspace Trust) to start it.',
  };
}
