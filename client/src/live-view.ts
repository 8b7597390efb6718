// "Unicorn: Show Live View": a webview that draws, for one server, each worker's requests per
// second, busy state and memory over the last five minutes, and the listen queue — from the
// control socket's status, once a second while the panel is open.
import crypto from 'node:crypto';
import * as vscode from 'vscode';
import type { ServerHandle } from './arbiter-process';
import { LiveModel, LiveSnapshot } from './live-model';

/** What the webview reports after drawing a snapshot (the in-editor test reads it). */
export interface RenderedReport {
  master: number;
  workers: number;
  lines: number;
  rps: number;
  queue: number | null;
  /** Charts (svg ids) whose bottom lies below the panel's, so a user has to scroll to see them. */
  belowFold: string[];
  /** The webview's size in CSS pixels, [width, height]. */
  viewport: [number, number];
}

export class LiveView implements vscode.Disposable {
  private readonly panel: vscode.WebviewPanel;
  private readonly model = new LiveModel();
  private timer: NodeJS.Timeout | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  lastRendered: RenderedReport | undefined;
  private readonly disposed = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposed.event;

  constructor(readonly server: ServerHandle) {
    this.panel = vscode.window.createWebviewPanel('unicorn.liveView', `Unicorn live: master ${server.pid}`, vscode.ViewColumn.Beside, {
      enableScripts: true,
      retainContextWhenHidden: true,
    });
    this.panel.webview.html = html(crypto.randomBytes(16).toString('base64'), this.panel.webview.cspSource);
    this.subscriptions.push(
      this.panel.onDidDispose(() => this.dispose()),
      this.panel.webview.onDidReceiveMessage((m: { type?: string; report?: RenderedReport }) => {
        if (m.type === 'rendered' && m.report) this.lastRendered = m.report;
      }),
    );
    void this.tick();
  }

  get snapshot(): LiveSnapshot | undefined {
    return this.model.snapshot();
  }

  reveal(): void {
    this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  private async tick(): Promise<void> {
    const status = await this.server.refreshStatus();
    if (status) {
      this.model.push(status, Date.now());
      void this.panel.webview.postMessage({ type: 'snapshot', snapshot: this.model.snapshot() });
    } else if (!this.server.running) {
      void this.panel.webview.postMessage({ type: 'stopped' });
      return;
    }
    this.timer = setTimeout(() => void this.tick(), 1000);
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.subscriptions) d.dispose();
    this.disposed.fire();
    this.disposed.dispose();
    this.panel.dispose();
  }
}

function html(nonce: string, cspSource: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';">
<style nonce="${nonce}">
  /* One screen, no scrolling: the charts share the panel's height (each at least a readable strip), so
     the listen queue, the last chart, is in view as soon as the panel opens, whatever its size. */
  html, body { height: 100%; margin: 0; }
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 8px 16px; box-sizing: border-box;
    display: flex; flex-direction: column; overflow: auto; }
  h1 { font-size: 1.2em; margin: 0 0 4px; } .sub { opacity: .75; margin-bottom: 6px; }
  .chart { margin: 6px 0; flex: 1 1 0; min-height: 64px; display: flex; flex-direction: column; }
  .chart h2 { font-size: 1em; margin: 0 0 4px; font-weight: 600; flex: none; }
  svg { width: 100%; flex: 1 1 0; min-height: 40px; max-height: 160px; background: var(--vscode-editorWidget-background); border-radius: 4px; }
  .legend span { margin-right: 12px; font-size: .9em; white-space: nowrap; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
  .chart.busy { flex: none; min-height: 0; } .busy svg { flex: none; min-height: 0; }
  .stopped { color: var(--vscode-errorForeground); }
</style></head>
<body>
<h1 id="title">Unicorn — waiting for the first status…</h1>
<div class="sub" id="sub"></div>
<div class="legend" id="legend"></div>
<div class="chart"><h2>Requests per second, per worker</h2><svg id="rps" viewBox="0 0 600 110" preserveAspectRatio="none"></svg></div>
<div class="chart busy"><h2>Busy (yellow) or idle (green), per worker</h2><svg id="busy" viewBox="0 0 600 10" preserveAspectRatio="none"></svg></div>
<div class="chart"><h2>Memory (RSS, MB), per worker</h2><svg id="rss" viewBox="0 0 600 110" preserveAspectRatio="none"></svg></div>
<div class="chart"><h2 id="queueTitle">Listen queue (connections waiting for a worker)</h2><svg id="queue" viewBox="0 0 600 110" preserveAspectRatio="none"></svg></div>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const COLORS = ['#4fc1ff', '#c586c0', '#dcdcaa', '#4ec9b0', '#ce9178', '#9cdcfe', '#f48771', '#b5cea8'];
const W = 600, H = 110;
const el = (id) => document.getElementById(id);
function line(svg, values, color, max, n) {
  let d = '', pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { pen = false; return; }
    const x = n > 1 ? (i / (n - 1)) * W : W, y = H - 4 - (v / max) * (H - 12);
    d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1) + ' '; pen = true;
  });
  if (!d) return 0;
  const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  p.setAttribute('d', d); p.setAttribute('fill', 'none'); p.setAttribute('stroke', color); p.setAttribute('stroke-width', '2');
  p.setAttribute('vector-effect', 'non-scaling-stroke'); svg.appendChild(p); return 1;
}
function label(svg, text) {
  const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
  t.setAttribute('x', '4'); t.setAttribute('y', '12'); t.setAttribute('fill', 'currentColor'); t.setAttribute('font-size', '10'); t.textContent = text; svg.appendChild(t);
}
const ceiling = (arrays) => Math.max(1, ...arrays.flat().filter((v) => typeof v === 'number')) * 1.2; // headroom above the highest point
function draw(s) {
  const n = s.times.length;
  el('title').textContent = 'Unicorn — master ' + s.master;
  el('sub').textContent = s.now.workers + ' workers · ' + s.now.busy + ' busy · ' + s.now.rps.toFixed(1) + ' requests/s · listen queue ' + (s.now.queue ?? '?') + (s.backlog ? ' of ' + s.backlog : '') + ' · last ' + Math.round(s.times[n - 1] || 0) + ' s';
  el('legend').innerHTML = '';
  s.workers.forEach((w, i) => {
    const sp = document.createElement('span'), sw = document.createElement('i');
    sw.style.background = COLORS[i % COLORS.length]; // CSSOM: the CSP allows it, unlike a style attribute
    sp.appendChild(sw); sp.appendChild(document.createTextNode('worker ' + w.pid)); el('legend').appendChild(sp);
  });
  let lines = 0;
  for (const id of ['rps', 'rss', 'queue']) el(id).innerHTML = '';
  const rpsMax = ceiling(s.workers.map((w) => w.rps)); label(el('rps'), 'scale ' + rpsMax.toFixed(1) + '/s');
  s.workers.forEach((w, i) => { lines += line(el('rps'), w.rps, COLORS[i % COLORS.length], rpsMax, n); });
  const rssMax = ceiling(s.workers.map((w) => w.rssMb)); label(el('rss'), 'scale ' + rssMax.toFixed(0) + ' MB');
  s.workers.forEach((w, i) => { lines += line(el('rss'), w.rssMb, COLORS[i % COLORS.length], rssMax, n); });
  const qMax = Math.max(ceiling([s.queue]), 1); label(el('queue'), 'scale ' + qMax.toFixed(0));
  lines += line(el('queue'), s.queue, '#f48771', qMax, n);
  const busy = el('busy'); busy.innerHTML = ''; busy.setAttribute('viewBox', '0 0 ' + W + ' ' + (s.workers.length * 12));
  busy.style.height = (s.workers.length * 12) + 'px';
  s.workers.forEach((w, row) => w.busy.forEach((b, i) => {
    if (b === null) return;
    const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    r.setAttribute('x', String((i / Math.max(1, n)) * W)); r.setAttribute('width', String(W / Math.max(1, n) + 0.5));
    r.setAttribute('y', String(row * 12 + 1)); r.setAttribute('height', '10'); r.setAttribute('fill', b ? '#dcdcaa' : '#4ec9b0'); busy.appendChild(r);
  }));
  // The charts a user must scroll to (their bottom below the panel's), as the webview laid them out.
  const belowFold = [...document.querySelectorAll('.chart svg')].filter((c) => c.getBoundingClientRect().bottom > window.innerHeight + 0.5).map((c) => c.id);
  vscode.postMessage({ type: 'rendered', report: { master: s.master, workers: s.workers.length, lines, rps: s.now.rps, queue: s.now.queue, belowFold, viewport: [window.innerWidth, window.innerHeight] } });
}
window.addEventListener('message', (e) => {
  if (e.data.type === 'snapshot' && e.data.snapshot) draw(e.data.snapshot);
  if (e.data.type === 'stopped') { el('sub').textContent = 'The server stopped.'; el('sub').className = 'sub stopped'; }
});
</script></body></html>`;
}
