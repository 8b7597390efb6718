// What the benchmark scripts share (bench.mjs, instructions.mjs): their command-line options and a free port.
import net from 'node:net';

/** `--name VALUE` from this process's arguments, or `fallback`. */
export function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

/** A TCP port on 127.0.0.1 that nothing listens on (the kernel's pick). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
