// What the in-host suite shares with its launchers: where results and artifacts go, screenshots
// taken by the launcher's browser, and polling. Runs inside the VS Code extension host.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { UnicornApi } from '../../../client/src/extension';

/** One test's outcome as the launchers print it. */
export interface TestResult {
  title: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  error?: string;
}

/** The whole run, written to $UNICORN_VSCODE_RESULTS for the launcher to read. */
export interface SuiteResults {
  passed: number;
  failed: number;
  pending: number;
  tests: TestResult[];
}

/** The repository root: this file is bundled into dist/test/vscode/suite/. */
export const ROOT = path.resolve(__dirname, '..', '..', '..', '..');

/** Where screenshots (and anything else a test wants to keep) go. */
export function artifactsDir(): string {
  return process.env.UNICORN_VSCODE_ARTIFACTS || path.join(ROOT, '.test-artifacts', 'vscode');
}

/** Writes the results atomically, so a launcher polling the file never reads half of it. */
export function recordResults(results: SuiteResults, file = process.env.UNICORN_VSCODE_RESULTS): void {
  if (!file) return; // a launcher that does not ask for a results file reads only the exit code
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(results, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

/** The results an earlier run in this launch wrote (before the suite reloaded the window), if any. */
export function readResults(file = process.env.UNICORN_VSCODE_RESULTS): SuiteResults | undefined {
  try {
    return file ? (JSON.parse(fs.readFileSync(file, 'utf8')) as SuiteResults) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A directory that outlives the window (the launcher's, one per launch): what a test wants the
 * suite's next run, after a window reload or close, to check.
 */
export function stateDir(): string {
  const dir = process.env.UNICORN_VSCODE_STATE;
  assert.ok(dir, 'UNICORN_VSCODE_STATE is unset: run the window suite under test/vscode/launch-code-server.mjs');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Asks for the window to be reloaded ('reload': Developer: Reload Window) or closed ('close': the
 * launcher then opens it again) once every test of this run has passed; the suite then runs again
 * in the new window, where the tests read what this run left in stateDir().
 */
export function windowAction(action: 'reload' | 'close'): void {
  fs.writeFileSync(path.join(stateDir(), 'window-action'), action);
}

export function takeWindowAction(): 'reload' | 'close' | undefined {
  const dir = process.env.UNICORN_VSCODE_STATE;
  const file = dir && path.join(dir, 'window-action');
  if (!file || !fs.existsSync(file)) return undefined;
  const action = fs.readFileSync(file, 'utf8').trim() as 'reload' | 'close';
  fs.rmSync(file);
  return action;
}

/** Asks the launcher to close this window (the code-server launcher closes the page and opens a new one). */
export function askLauncherToCloseWindow(): void {
  const requests = process.env.UNICORN_VSCODE_SCREENSHOT_REQUESTS;
  assert.ok(requests, 'closing the window needs the code-server launcher (UNICORN_VSCODE_SCREENSHOT_REQUESTS is unset)');
  const request = path.join(requests, 'close-window.json');
  fs.writeFileSync(`${request}.tmp`, JSON.stringify({ close: true }));
  fs.renameSync(`${request}.tmp`, request);
}

/** Polls `cond` every 100 ms until it returns a truthy value, which it resolves with; rejects naming `what` after `ms`. */
export async function waitFor<T>(cond: () => T | Promise<T>, ms: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await cond();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (e) {
      lastError = e; // the condition may throw until the thing it checks exists
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Saves a screenshot of the whole VS Code window as `<artifacts>/<name>.png` and resolves with its
 * path. The extension host cannot see the window, so it asks the launcher: it writes a request
 * naming the PNG into $UNICORN_VSCODE_SCREENSHOT_REQUESTS (a directory private to one launcher
 * run, so concurrent runs never serve each other's requests); the launcher polls it, takes the
 * picture with the browser, writes the PNG and deletes the request. Under a launcher without
 * screenshots (the variable unset, as with @vscode/test-electron) it does nothing.
 */
export async function screenshot(name: string, timeoutMs = 30_000): Promise<string | undefined> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`screenshot name "${name}": use letters, digits, ".", "-" and "_" only`);
  const requests = process.env.UNICORN_VSCODE_SCREENSHOT_REQUESTS;
  if (!requests) return undefined;
  const dir = artifactsDir();
  fs.mkdirSync(dir, { recursive: true });
  const png = path.join(dir, `${name}.png`);
  const request = path.join(requests, `${name}.json`);
  fs.rmSync(png, { force: true });
  fs.mkdirSync(requests, { recursive: true });
  fs.writeFileSync(`${request}.tmp`, JSON.stringify({ png }));
  fs.renameSync(`${request}.tmp`, request);
  await waitFor(() => !fs.existsSync(request) && fs.existsSync(png), timeoutMs, `the launcher to save screenshot ${png}`);
  return png;
}

/** Whether a process exists (signal 0): the tests check by pid that nothing they started is left. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Picks `label` in the extension's open app pick as a user would: the down arrow until it is highlighted, then Enter. */
export async function chooseInAppPick(api: UnicornApi, label: string): Promise<void> {
  await waitFor(() => api.lastPickActive(), 30_000, 'the app pick to open');
  assert.ok(api.lastPickLabels().includes(label), `"${label}" is not offered: ${api.lastPickLabels().join(', ')}`);
  for (let i = 0; i < api.lastPickLabels().length && api.lastPickActive() !== label; i++) {
    const before = api.lastPickActive();
    await vscode.commands.executeCommand('workbench.action.quickOpenSelectNext');
    await waitFor(() => api.lastPickActive() !== before, 10_000, `the highlight to move off "${before}"`);
  }
  assert.equal(api.lastPickActive(), label);
  await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
}

/**
 * Evaluates `expression` in the workbench page (the launcher's browser) and resolves with its JSON
 * value: what the window shows a user, read from the DOM. Like screenshot(), a request to the
 * launcher; undefined under a launcher that takes none (@vscode/test-electron).
 */
export async function probeUi<T>(name: string, expression: string, timeoutMs = 30_000): Promise<T | undefined> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`probe name "${name}": use letters, digits, ".", "-" and "_" only`);
  const requests = process.env.UNICORN_VSCODE_SCREENSHOT_REQUESTS;
  if (!requests) return undefined;
  const out = path.join(requests, `${name}.answer`);
  const request = path.join(requests, `${name}.json`);
  fs.rmSync(out, { force: true });
  fs.writeFileSync(`${request}.tmp`, JSON.stringify({ probe: expression, out }));
  fs.renameSync(`${request}.tmp`, request);
  await waitFor(() => fs.existsSync(out), timeoutMs, `the launcher to answer probe ${name}`);
  const answer = JSON.parse(fs.readFileSync(out, 'utf8')) as { value?: T; error?: string };
  fs.rmSync(out, { force: true });
  if (answer.error) throw new Error(`probe ${name}: ${answer.error}`);
  return answer.value;
}

/** How a tree row is drawn: its label and description, whether each is cut, and the inline actions shown. */
export interface RowLayout {
  label: string;
  /** The label's whole text fits (it is not cut by an ellipsis or the row's end). */
  labelVisible: boolean;
  description: string;
  descriptionVisible: boolean;
  /** The part of the description drawn before the row cuts it (all of it when it fits). */
  descriptionShown: string;
  /** Inline action icons drawn on the row (titles). */
  actions: string[];
  rowWidth: number;
  /** The height of the view's body (the pane the tree is drawn in), and of the whole sidebar. */
  viewHeight: number;
  sidebarHeight: number;
}

/** The layout of the tree row labelled `label` (as the window draws it now), or null when no such row is drawn. */
export function treeRowLayout(label: string): Promise<RowLayout | null | undefined> {
  return probeUi<RowLayout | null>(`row-${label.replace(/\W+/g, '-')}`, `(() => {
    const rows = [...document.querySelectorAll('.monaco-list-row')];
    const row = rows.find((r) => r.querySelector('.label-name')?.textContent.trim() === ${JSON.stringify(label)});
    if (!row) return null;
    const box = (el) => el ? el.getBoundingClientRect() : null;
    const clip = box(row.querySelector('.monaco-icon-label-container'));
    const name = row.querySelector('.label-name');
    const desc = row.querySelector('.label-description');
    const fits = (el) => !!el && !!clip && box(el).width > 0 && box(el).right <= clip.right + 0.5 && el.scrollWidth <= el.clientWidth + 0.5;
    const actions = [...row.querySelectorAll('.actions .action-item a, .actions .action-item .action-label')]
      .filter((a) => { const b = box(a); return b.width > 0 && b.height > 0 && getComputedStyle(a).visibility !== 'hidden'; })
      .map((a) => a.getAttribute('aria-label') || a.title || '');
    // The characters of the description whose right edge is inside the clip (a Range per prefix).
    let shown = '';
    const text = desc && [...desc.childNodes].find((n) => n.nodeType === 3);
    if (text && clip) {
      const range = document.createRange();
      for (let i = 1; i <= text.length; i++) {
        range.setStart(text, 0); range.setEnd(text, i);
        if (range.getBoundingClientRect().right > clip.right + 0.5) break;
        shown = text.data.slice(0, i);
      }
    }
    return {
      descriptionShown: shown.trim(),
      label: name ? name.textContent.trim() : '',
      labelVisible: fits(name),
      description: desc ? desc.textContent.trim() : '',
      descriptionVisible: fits(desc),
      actions: [...new Set(actions)],
      rowWidth: box(row).width,
      viewHeight: box(row.closest('.pane-body') || row.closest('.monaco-list')).height,
      sidebarHeight: box(row.closest('.part.sidebar') || document.body).height,
    };
  })()`);
}
