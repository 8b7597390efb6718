// `bind` addresses parsed the way gunicorn parses them: HOST:PORT, [IPv6]:PORT, unix:PATH, fd://N.
// Pure: the runtime binds what this returns, the language server and `unicorn check` only validate.
import net from 'node:net';
import { CliError } from './errors';

export type Address =
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'fd'; fd: number; text: string };

/** Parses one `bind` entry the way gunicorn does. Throws CliError naming the entry. */
export function parseAddress(text: string): Address {
  const bad = (why: string, fix: string): never => {
    throw new CliError(`bind "${text}": ${why} — ${fix}`);
  };
  if (text.startsWith('unix:')) {
    const p = text.slice(text.startsWith('unix://') ? 7 : 5);
    if (!p) bad('no path after unix:', 'write unix:/run/app.sock');
    return { kind: 'unix', path: p, text };
  }
  if (text.startsWith('fd://')) {
    const n = text.slice(5);
    if (!/^\d+$/.test(n)) bad('the descriptor is not a number', 'write fd://3');
    return { kind: 'fd', fd: Number(n), text };
  }
  let rest = text.startsWith('tcp://') ? text.slice(6) : text;
  if (rest.includes('/')) bad('not an address', 'write HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N');
  let host: string;
  let port = '8000';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) bad('unclosed [', 'write an IPv6 address as [::1]:8000');
    host = rest.slice(1, end);
    rest = rest.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) bad('unexpected text after ]', 'write [::1]:8000');
      port = rest.slice(1);
    }
    if (net.isIPv6(host) === false) bad(`"${host}" is not an IPv6 address`, 'write [::1]:8000');
  } else if ((rest.match(/:/g) ?? []).length > 1) {
    bad('an IPv6 address needs brackets', `write [${rest}]:8000`);
    host = '';
  } else {
    const i = rest.lastIndexOf(':');
    if (i >= 0) {
      host = rest.slice(0, i);
      port = rest.slice(i + 1);
    } else host = rest;
  }
  if (host === '') host = '0.0.0.0';
  if (!/^\d+$/.test(port) || Number(port) > 65535) bad(`port "${port}" is not a number from 0 to 65535`, 'write HOST:PORT, e.g. 127.0.0.1:8000');
  return { kind: 'tcp', host, port: Number(port), text };
}
