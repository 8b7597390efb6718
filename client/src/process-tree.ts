// The "Unicorn" view (its own container in the activity bar): every server the user can reach (the one this window started and
// those discovery finds), each master with its workers, from the control socket's status.
import * as vscode from 'vscode';
import type { ServerStatus, WorkerStatus } from '../../runtime/src/core/control-protocol';
import type { ServerHandle } from './arbiter-process';

export const VIEW_ID = 'unicorn.processes';

export class MasterItem extends vscode.TreeItem {
  override readonly contextValue = 'master';
  constructor(readonly server: ServerHandle, readonly status: ServerStatus['master'], workerCount: number) {
    super(`master ${status.pid}`, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `master:${status.pid}`;
    const address = status.listeners[0]?.replace(/^http:\/\//, '') ?? '';
    // The worker class beside the count ("2 asgi workers"): which loop serves is the first thing to know about an app that misbehaves.
    const parts = [address, `${workerCount} ${status.worker_class} worker${workerCount === 1 ? '' : 's'}`];
    if (status.reloading) parts.push('reloading');
    if (status.focus?.length) parts.push(`traffic → ${status.focus.join(', ')}`);
    if (server.origin === 'discovered') parts.push('not started here');
    this.description = parts.join(' · ');
    this.iconPath = new vscode.ThemeIcon('server-process');
    this.tooltip = new vscode.MarkdownString(
      [
        `**Unicorn master** (pid ${status.pid})${server.origin === 'discovered' ? ' — started outside this window (CLI, task or another window)' : ''}`,
        `- app: \`${status.app ?? '—'}\``,
        `- listening: ${status.listeners.join(', ')}`,
        `- worker class: ${status.worker_class}, timeout ${status.timeout} s`,
        `- python: \`${status.python}\``,
        `- RSS: ${formatBytes(status.rss)}, up ${formatDuration(status.uptime)}`,
        `- control socket: \`${server.controlSocket}\``,
        ...(status.focus?.length ? [`- new connections go to worker ${status.focus.join(', ')} only (being debugged); the others resume on detach`] : []),
      ].join('\n'),
    );
  }
}

export class WorkerItem extends vscode.TreeItem {
  override readonly contextValue: 'worker' | 'worker-attached';
  constructor(readonly server: ServerHandle, readonly status: WorkerStatus, readonly masterPid: number, attached: boolean, focus: readonly number[]) {
    super(`worker ${status.pid}`, vscode.TreeItemCollapsibleState.None);
    this.contextValue = attached ? 'worker-attached' : 'worker';
    this.id = `worker:${status.pid}`;
    this.description = workerDescription(status, focus);
    this.iconPath = workerIcon(status);
    const lines = [
      `**Worker ${status.id}** (pid ${status.pid})`,
      `- state: ${status.state}${status.request ? ` — \`${status.request.method} ${status.request.path}\` for ${formatDuration(status.request.age)}` : ''}`,
      `- requests served: ${status.requests}`,
      `- RSS: ${formatBytes(status.rss)}, up ${formatDuration(status.uptime)}`,
    ];
    if (status.debug_port) lines.push(`- debugpy on 127.0.0.1:${status.debug_port}${status.debugger_attached ? ' (attached: the watchdog spares it)' : ''}`);
    if (focus.length && !focus.includes(status.pid)) lines.push(`- takes no new connections while worker ${focus.join(', ')} is being debugged`);
    this.tooltip = new vscode.MarkdownString(lines.join('\n'));
  }
}

export type ProcessNode = MasterItem | WorkerItem;

/** Short, to fit the default sidebar width: the state, requests and memory (the tooltip has uptime and the rest). */
export function workerDescription(w: WorkerStatus, focus: readonly number[] = []): string {
  const state = w.state === 'busy' && w.request ? `busy: ${w.request.method} ${w.request.path} (${formatDuration(w.request.age)})` : w.state;
  const parts = [state, `${w.requests} req`, formatBytes(w.rss)];
  if (w.debugger_attached) parts.push('debugging');
  else if (focus.length && !focus.includes(w.pid)) parts.push('not accepting');
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

export interface TreeSources {
  /** Control sockets of servers started elsewhere (discovery). */
  discover(): string[];
  /** Makes a handle for a discovered socket. */
  open(socket: string): ServerHandle;
  /** Whether this window has a debug session on the worker (then the row offers Detach). */
  attached(pid: number): boolean;
}

/**
 * Refreshes at most once a second while the view is visible (every 5 s when hidden: the status
 * bar and discovery still follow), and at once after an action.
 */
export class ProcessTreeProvider implements vscode.TreeDataProvider<ProcessNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ProcessNode | undefined | void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly servers = new Map<string, ServerHandle>();
  private masters: MasterItem[] = [];
  private workers = new Map<MasterItem, WorkerItem[]>();
  private timer: NodeJS.Timeout | undefined;
  private visible = false;
  private polling = false;
  private disposed = false;

  constructor(private readonly sources: TreeSources) {
    this.schedule();
  }

  /** A server this window started: shown as soon as it reports status. */
  addServer(server: ServerHandle): void {
    this.servers.set(server.controlSocket, server);
    this.rebuild();
    this.schedule();
  }

  removeServer(server: ServerHandle): void {
    if (this.servers.get(server.controlSocket) === server) this.servers.delete(server.controlSocket);
    this.rebuild();
  }

  setVisible(visible: boolean): void {
    this.visible = visible;
    this.schedule();
  }

  /** Every server known now (running ones), this window's first. */
  get handles(): ServerHandle[] {
    return [...this.servers.values()].filter((s) => s.running).sort((a, b) => (a.origin === b.origin ? 0 : a.origin === 'editor' ? -1 : 1));
  }

  /** Discovers, asks every server for status now, and redraws. */
  async refresh(): Promise<void> {
    for (const socket of this.sources.discover()) {
      if (!this.servers.has(socket)) this.servers.set(socket, this.sources.open(socket));
    }
    await Promise.all([...this.servers.values()].map((s) => s.refreshStatus()));
    for (const [socket, s] of this.servers) if (!s.running) this.servers.delete(socket);
    this.rebuild();
  }

  private rebuild(): void {
    this.masters = [];
    this.workers = new Map();
    const seen = new Set<number>();
    for (const server of this.handles) {
      const status = server.lastStatus;
      if (!status || seen.has(status.master.pid)) continue; // the same master reached by two paths
      seen.add(status.master.pid);
      const master = new MasterItem(server, status.master, status.workers.length);
      this.masters.push(master);
      this.workers.set(master, status.workers.map((w) => new WorkerItem(server, w, status.master.pid, this.sources.attached(w.pid), status.master.focus ?? [])));
    }
    this.changed.fire();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.disposed) return;
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
    if (!element) return this.masters;
    return element instanceof MasterItem ? this.workers.get(element) ?? [] : [];
  }

  getParent(element: ProcessNode): ProcessNode | undefined {
    if (element instanceof MasterItem) return undefined;
    return this.masters.find((m) => m.status.pid === element.masterPid);
  }

  /** The current nodes, for reveal and for tests. */
  get masterItems(): readonly MasterItem[] {
    return this.masters;
  }

  masterFor(server: ServerHandle): MasterItem | undefined {
    return this.masters.find((m) => m.server === server);
  }

  workersOf(master: MasterItem): readonly WorkerItem[] {
    return this.workers.get(master) ?? [];
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.changed.dispose();
  }
}
