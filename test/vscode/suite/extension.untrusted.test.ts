// Restricted Mode (the launcher's --trusted=false run): Start Unicorn Server refuses and starts no
// process, while the language server — which only parses — still reports problems ("limited" support).
import assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import type { UnicornApi } from '../../../client/src/extension';
import { screenshot, waitFor } from './harness';

suite('Unicorn extension (untrusted workspace)', () => {
  let api: UnicornApi;

  suiteSetup(async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'this file runs only in the Restricted Mode run');
    const ext = vscode.extensions.getExtension<UnicornApi>('unicorn-dev.unicorn');
    assert.ok(ext);
    api = await ext.activate();
  });

  test('Start Unicorn Server starts nothing and says why', async () => {
    const pid = await vscode.commands.executeCommand<number | undefined>('unicorn.start');
    assert.equal(pid, undefined);
    assert.equal(api.server(), undefined, 'no server process was created');
    assert.doesNotMatch(api.logText(), /^\$ unicorn/m, 'nothing was run');
    assert.equal(api.canStart(vscode.workspace.isTrusted).ok, false);
    await screenshot('untrusted-start-refused');
  });

  test('the view\'s welcome offers no Start button here (it could only fail), but says why and how to trust', async () => {
    const ext = vscode.extensions.getExtension('unicorn-dev.unicorn')!;
    const welcome = (ext.packageJSON.contributes.viewsWelcome as Array<{ view: string; contents: string; when?: string }>).filter((w) => w.view === 'unicorn.processes');
    // The workbench shows an entry when its `when` holds: here isWorkspaceTrusted is false.
    const shown = welcome.filter((w) => w.when === '!isWorkspaceTrusted');
    assert.equal(shown.length, 1, JSON.stringify(welcome));
    assert.doesNotMatch(shown[0].contents, /command:unicorn\.start/);
    assert.match(shown[0].contents, /Restricted Mode.*command:workbench\.trust\.manage/s);
    assert.ok(welcome.filter((w) => w.contents.includes('command:unicorn.start')).every((w) => w.when === 'isWorkspaceTrusted'));
    // Nor a ▶ in the view's title bar.
    const titleStart = (ext.packageJSON.contributes.menus['view/title'] as Array<{ command: string; when: string }>).find((m) => m.command === 'unicorn.start');
    assert.match(titleStart?.when ?? '', /&& isWorkspaceTrusted$/);
    await vscode.commands.executeCommand('unicorn.processes.focus');
    await waitFor(() => api.treeView.visible, 10_000, 'the Unicorn view to show');
    await screenshot('untrusted-welcome');
  });

  test('the language server still checks unicorn.conf.py (it never runs it)', async () => {
    const conf = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'unicorn.conf.py');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(conf));
    await waitFor(() => vscode.languages.getDiagnostics(conf).some((d) => /somaxconn/.test(d.message)), 30_000, 'the somaxconn diagnostic in Restricted Mode');
  });
});
