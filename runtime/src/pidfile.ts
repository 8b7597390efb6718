// The pid file, as gunicorn writes it: a temporary file beside it renamed over it, so that a symlink
// (or anything else) at that path is replaced, never followed; removed at exit only if it still
// holds our pid (a newer server may have taken the name).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function writePidfile(file: string, pid: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  // 'wx' is O_CREAT|O_EXCL: fails on anything already there, a symlink included, rather than follow it.
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    fs.writeSync(fd, `${pid}\n`);
    fs.fchmodSync(fd, 0o644); // whatever the umask, as gunicorn does
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** The pid in the file, read without following a symlink; null when it is not a regular file holding a pid. */
export function readPidfile(file: string): number | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    const buf = Buffer.alloc(32);
    const text = buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0)).trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } finally {
    fs.closeSync(fd);
  }
}

export function removePidfile(file: string, pid: number): void {
  if (readPidfile(file) !== pid) return;
  try {
    fs.unlinkSync(file);
  } catch {
    /* already gone */
  }
}
