// The status bar item: state, address and worker count; a click opens the app in the browser.
import * as vscode from 'vscode';
import { ArbiterProcess } from './arbiter-process';

export class ServerStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('unicorn.status', vscode.StatusBarAlignment.Left, 50);
  private running: boolean | undefined;

  constructor() {
    this.item.name = 'Unicorn Server';
  }

  update(server: ArbiterProcess | undefined): void {
    // `unicorn.running` drives the view's title buttons and the palette; set it only when it changes.
    const running = Boolean(server?.running);
    if (running !== this.running) void vscode.commands.executeCommand('setContext', 'unicorn.running', running);
    this.running = running;
    if (!server?.running) {
      this.item.hide();
      return;
    }
    const status = server.lastStatus;
    if (!status) {
      this.item.text = '$(loading~spin) Unicorn: starting';
      this.item.tooltip = `Starting ${server.invocation.what}`;
      this.item.command = 'unicorn.showLog';
    } else {
      const n = status.workers.length;
      const address = (server.url ?? status.master.listeners[0] ?? '').replace(/^http:\/\//, '');
      this.item.text = `$(server-process) Unicorn: ${address} · ${n} worker${n === 1 ? '' : 's'}${status.master.reloading ? ' · reloading' : ''}`;
      this.item.tooltip = `${status.master.app ?? server.invocation.what} — master ${status.master.pid}. Click to open ${server.url ?? 'the app'} in the browser.`;
      this.item.command = 'unicorn.openInBrowser';
    }
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.item.dispose();
  }
}
