// The harness end to end: the extension under development is loaded and activates, and its
// commands exist. Runs in the real extension host.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { suite, test } from 'mocha';
import * as vscode from 'vscode';
import { screenshot } from './harness';

const EXTENSION_ID = 'unicorn-dev.unicorn';

suite('smoke', () => {
  test('the extension is present and activates', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded — is extensionDevelopmentPath the repository root?`);
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  test('the extension has an icon (a PNG the manifest names)', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const icon = path.join(ext.extensionPath, String(ext.packageJSON.icon));
    assert.deepEqual([...fs.readFileSync(icon).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${icon} is not a PNG`);
  });

  test('unicorn.start is registered', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.includes('unicorn.start'), 'command unicorn.start is not registered');
  });

  test('the workspace is trusted (the launcher disables Workspace Trust)', () => {
    assert.equal(vscode.workspace.isTrusted, true);
  });

  test('a screenshot of the window reaches the artifacts', async () => {
    await screenshot('smoke-workbench');
  });
});
