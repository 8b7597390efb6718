// --reload: watches the app's source files (the workers report what they imported) and the
// reload_extra_files, and tells the arbiter which file changed. The arbiter then reloads the way HUP
// does, so a file that no longer imports leaves the old workers serving.
import fs from 'node:fs';
import path from 'node:path';

/** Editors save in bursts (write, rename, chmod): changes this close together are one change. */
const SETTLE_MS = 200;
const POLL_MS = 1000;

export class Reloader {
  private readonly files = new Set<string>();
  private readonly dirWatchers = new Map<string, fs.FSWatcher>();
  private readonly mtimes = new Map<string, number>();
  private poller: NodeJS.Timeout | undefined;
  private pending: { file: string; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly engine: 'auto' | 'poll' | 'inotify',
    private readonly onChange: (file: string) => void,
  ) {
    if (engine === 'poll') {
      this.poller = setInterval(() => this.poll(), POLL_MS);
      this.poller.unref();
    }
  }

  /** Adds files to watch (absolute paths); files already watched are ignored. */
  watch(files: Iterable<string>): void {
    for (const f of files) {
      const file = path.resolve(f);
      if (this.files.has(file)) continue;
      this.files.add(file);
      if (this.engine === 'poll') this.mtimes.set(file, mtime(file));
      else this.watchDir(path.dirname(file));
    }
  }

  get watched(): number {
    return this.files.size;
  }

  /** One inotify watch per directory: it sees a file replaced by an editor's atomic save, too. */
  private watchDir(dir: string): void {
    if (this.dirWatchers.has(dir)) return;
    try {
      const watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        if (!name) return;
        const file = path.join(dir, name.toString());
        if (this.files.has(file)) this.changed(file);
      });
      watcher.on('error', () => undefined);
      this.dirWatchers.set(dir, watcher);
    } catch {
      /* a directory that vanished: nothing to watch */
    }
  }

  private poll(): void {
    for (const file of this.files) {
      const now = mtime(file);
      if (now !== this.mtimes.get(file)) {
        this.mtimes.set(file, now);
        this.changed(file);
      }
    }
  }

  private changed(file: string): void {
    if (this.pending) clearTimeout(this.pending.timer);
    const timer = setTimeout(() => {
      this.pending = undefined;
      this.onChange(file);
    }, SETTLE_MS);
    this.pending = { file, timer };
  }

  close(): void {
    for (const w of this.dirWatchers.values()) w.close();
    this.dirWatchers.clear();
    if (this.poller) clearInterval(this.poller);
    if (this.pending) clearTimeout(this.pending.timer);
  }
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}
