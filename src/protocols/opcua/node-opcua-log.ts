// node-opcua prints its own warnings straight to the console (multi-line dumps of
// DataValues, certificate chains ...). Route them into our logger at debug level:
// everything a user must act on is logged by the source itself, once, with data.
import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';
import type { Logger } from 'pino';

const MAX_CHARS = 2000;

export function routeNodeOpcuaLogs(log: Logger): void {
  const toDebug = (...args: unknown[]): void => {
    if (!log.isLevelEnabled('debug')) return;
    const text = format(...args);
    log.debug({ node_opcua: text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}…` : text }, 'node-opcua says');
  };
  setWarningLogger(toDebug);
  setErrorLogger(toDebug);
}
