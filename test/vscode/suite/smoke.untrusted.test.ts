// The harness in the launcher's --trusted=false run: the folder is in Restricted Mode, and VS Code
// still loads and activates the extension under development there (it does not apply
// capabilities.untrustedWorkspaces to it), so the extension's own isTrusted checks are what the
// trust tests exercise.
import assert from 'node:assert/strict';
import { suite, test } from 'mocha';
import * as vscode from 'vscode';
import { screenshot } from './harness';

suite('smoke (untrusted workspace)', () => {
  test('the workspace is in Restricted Mode', () => {
    assert.equal(vscode.workspace.isTrusted, false);
  });

  test('the extension under development is still loaded and activates', async () => {
    const ext = vscode.extensions.getExtension('unicorn-dev.unicorn');
    assert.ok(ext, 'unicorn-dev.unicorn is not loaded in the untrusted workspace');
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  test('a screenshot shows Restricted Mode', async () => {
    await screenshot('smoke-workbench-untrusted');
  });
});
