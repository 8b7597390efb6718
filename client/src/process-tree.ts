// The explorer view "Unicorn": the master and its workers, from the control socket's status.
import * as vscode from 'vscode';
import type { ServerStatus, WorkerStatus } from '../../runtime/src/core/control-protocol';
import { ArbiterProcess } from './arbiter-process';

export const VIEW_ID = 'unicorn.processes';

export class MasterItem extends vscode.TreeItem {
  override readonly contextValue = 'master';
  constructor(readonly status: ServerStatus['master'], workerCount: number) {
    super(`master ${status.pid}`, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `master:${status.pid}`;
    this.description = `${status.listeners.join(', ')} · ${workerCount} worker${workerCount === 1 ? '' : 's'}${status.reloading ? ' · reloading' : ''}`;
    this.iconPath = new vscode.ThemeIcon('server-process');
    this.tooltip = new vscode.MarkdownString(
      [
        `**Unicorn master** (pid ${status.pid})`,
        `- app: \`${status.app ?? '—'}\``,
        `- listening: ${status.listeners.join(', ')}`,
        `- worker class: ${status.worker_class}, timeout ${status.timeout} s`,
        `- python: \`${status.python}\``,
        `- RSS: ${formatBytes(status.rss)}, up ${formatDuration(status.uptime)}`,
      ].join('\n'),
    );
  }
}

export class WorkerItem extends vscode.TreeItem {
  override readonly contextValue = 'worker';
  constructor(readonly status: WorkerStatus, readonly masterPid: number) {
    super(`worker ${status.pid}`, vscode.TreeItemCollapsibleState.None);
    this.id = `worker:${status.pid}`;
    this.description = workerDescription(status);
    this.iconPath = workerIcon(status);
    const lines = [
      `**Worker ${status.id}** (pid ${status.pid})`,
      `- state: ${status.state}${status.request ? ` — \`${status.request.method} ${status.request.path}\` for ${formatDuration(status.request.age)}` : ''}`,
      `- requests served: ${status.requests}`,
      `- RSS: ${formatBytes(status.rss)}, up ${formatDuration(status.uptime)}`,
    ];
    if (status.debug_port) lines.push(`- debugpy on 127.0.0.1:${status.debug_port}${status.debugger_attached ? ' (attached: the watchdog spares it)' : ''}`);
    this.tooltip = new vscode.MarkdownString(lines.join('\n'));
  }
}

export type ProcessNode = MasterItem | WorkerItem;

export function workerDescription(w: WorkerStatus): string {
  const state = w.state === 'busy' && w.request ? `busy: ${w.request.method} ${w.request.path} (${formatDuration(w.request.age)})` : w.state;
  const parts = [state, `${w.requests} req`, formatBytes(w.rss), `up ${formatDuration(w.uptime)}`];
  if (w.debugger_attached) parts.push('debugging');
  return parts.join(' · ');
}

function workerIcon(w: WorkerStatus): vscode.ThemeIcon {
  if (w.debugger_attached) return new vscode.ThemeIcon('debug', new vscode.ThemeColor('debugIcon.startForeground'));
  switch (w.state) {
    case 'busy':
      return new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.yellow'));
    case 'idle':
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('charts.green'));
    case 'exiting':
      return new vscode.ThemeIcon('circle-slash');
    default:
      return new vscode.ThemeIcon('loading~spin');
  }
}

export function formatBytes(n: number | null): string {
  if (n === null || n === undefined) return '? MB';
  return n >= 1024 * 1024 * 1024 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${(n / 1024 ** 2).toFixed(1)} MB`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** Refreshes at most once a second while the view is visible, and at once after an action. */
export class ProcessTreeProvider implements vscode.TreeDataProvider<ProcessNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ProcessNode | undefined | void>();
  readonly onDidChangeTreeData = this.changed.event;
  private server: ArbiterProcess | undefined;
  private master: MasterItem | undefined;
  private workers: WorkerItem[] = [];
  private timer: NodeJS.Timeout | undefined;
  private visible = false;
  private polling = false;

  setServer(server: ArbiterProcess | undefined): void {
    this.server = server;
    this.rebuild();
    this.schedule();
  }

  setVisible(visible: boolean): void {
    this.visible = visible;
    this.schedule();
  }

  /** Asks the arbiter now (after add/remove/kill/attach) and redraws. */
  async refresh(): Promise<void> {
    await this.server?.refreshStatus();
    this.rebuild();
  }

  private rebuild(): void {
    const status = this.server?.running ? this.server.lastStatus : undefined;
    this.master = status ? new MasterItem(status.master, status.workers.length) : undefined;
    this.workers = status ? status.workers.map((w) => new WorkerItem(w, status.master.pid)) : [];
    this.changed.fire();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.server?.running) return;
    // Hidden view: only the status bar needs numbers, every 5 s is enough for it.
    const delay = this.visible ? 1000 : 5000;
    this.timer = setTimeout(() => void this.poll(), delay);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.refresh();
    } finally {
      this.polling = false;
      this.schedule();
    }
  }

  getTreeItem(element: ProcessNode): vscode.TreeItem {
    return element;
  }

  getChildren(element?: ProcessNode): ProcessNode[] {
    if (!element) return this.master ? [this.master] : [];
    return element instanceof MasterItem ? this.workers : [];
  }

  getParent(element: ProcessNode): ProcessNode | undefined {
    return element instanceof WorkerItem ? this.master : undefined;
  }

  /** The current nodes, for reveal and for tests. */
  get masterItem(): MasterItem | undefined {
    return this.master;
  }

  get workerItems(): readonly WorkerItem[] {
    return this.workers;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.changed.dispose();
  }
}
