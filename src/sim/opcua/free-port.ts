import { createServer } from 'node:net';

/**
 * Asks the kernel for a free TCP port on the loopback. node-opcua servers advertise
 * their port in the endpoint URL, so port 0 cannot be handed to them directly.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}
