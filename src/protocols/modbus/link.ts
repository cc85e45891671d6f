import { Socket, type SocketConstructorOpts, type TcpSocketConnectOpts } from 'node:net';
import { createSerialLine, type SerialLineOptions } from './lib.js';

/** A byte stream to a bus: a TCP socket or a serial line. Framing is the port's job. */
export interface ByteLink {
  readonly isOpen: boolean;
  open(): Promise<void>;
  write(data: Buffer): void;
  /** Ends the link; resolves once it is closed. Safe to call twice. */
  close(): Promise<void>;
  /**
   * Registers the receiver of incoming bytes. The buffer it is given may be overwritten once
   * the callback returns (a TCP link reads into one buffer): copy what must outlive the call.
   */
  onData(cb: (data: Buffer) => void): void;
  /** Called once when the link goes away, whoever closed it. */
  onClose(cb: (err?: Error) => void): void;
}

/** A TCP connection (Modbus TCP, or RTU frames through a serial device server). */
export class TcpLink implements ByteLink {
  /**
   * Reads land in this one buffer and go straight to the receiver (net's `onread`), not
   * through a readable stream: a stream allocates a buffer per read, pushes it through its
   * state machine and schedules a read-more tick, for answers of at most 260 bytes that
   * the port parses at once (64 KiB, what libuv offers per read). Node's Socket constructor
   * takes `onread` (net.connect hands it on from there); its type declares it on the
   * connect options only.
   */
  private readonly socket = new Socket(<SocketConstructorOpts & Pick<TcpSocketConnectOpts, 'onread'>>{
    onread: {
      buffer: Buffer.allocUnsafe(64 * 1024),
      callback: (n: number, buf: Uint8Array): boolean => {
        this.receiver?.(Buffer.from(buf.buffer, buf.byteOffset, n));
        return true;
      },
    },
  });
  private receiver: ((data: Buffer) => void) | null = null;
  private open_ = false;
  private closed = false;
  private closeCbs: Array<(err?: Error) => void> = [];
  private lastError: Error | undefined;

  constructor(private readonly host: string, private readonly port: number, private readonly connectTimeoutMs: number) {
    this.socket.on('error', (err) => { this.lastError = err; });
    this.socket.on('close', () => this.markClosed());
  }

  get isOpen(): boolean {
    return this.open_;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        reject(new Error(`connect to ${this.host}:${this.port} timed out after ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        this.open_ = true;
        // Requests are small and strictly alternate with answers: Nagle would only add delay.
        this.socket.setNoDelay(true);
        resolve();
      });
      this.socket.once('close', () => {
        clearTimeout(timer);
        reject(this.lastError ?? new Error(`connection to ${this.host}:${this.port} closed`));
      });
      this.socket.connect({ host: this.host, port: this.port });
    });
  }

  write(data: Buffer): void {
    if (this.open_) this.socket.write(data);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeCbs.push(() => resolve());
      this.socket.destroy();
    });
  }

  onData(cb: (data: Buffer) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (err?: Error) => void): void {
    if (this.closed) cb(this.lastError);
    else this.closeCbs.push(cb);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.open_ = false;
    const cbs = this.closeCbs;
    this.closeCbs = [];
    for (const cb of cbs) cb(this.lastError);
  }
}

/** A local serial port (RS-485 adapter, or a pty in tests). */
export class SerialLink implements ByteLink {
  private readonly line;
  private closed = false;
  private opened = false;
  private closeCbs: Array<(err?: Error) => void> = [];
  private lastError: Error | undefined;

  constructor(options: SerialLineOptions) {
    this.line = createSerialLine(options);
    this.line.on('error', (err) => { this.lastError = err; });
    this.line.on('close', () => this.markClosed());
  }

  get isOpen(): boolean {
    return this.opened && !this.closed && this.line.isOpen;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.line.open((err) => {
        if (err) {
          this.closed = true;
          reject(err);
          return;
        }
        this.opened = true;
        resolve();
      });
    });
  }

  write(data: Buffer): void {
    if (this.isOpen) this.line.write(data);
  }

  close(): Promise<void> {
    if (this.closed || !this.opened) {
      this.markClosed();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.closeCbs.push(() => resolve());
      this.line.close(() => this.markClosed());
    });
  }

  onData(cb: (data: Buffer) => void): void {
    this.line.on('data', cb);
  }

  onClose(cb: (err?: Error) => void): void {
    if (this.closed) cb(this.lastError);
    else this.closeCbs.push(cb);
  }

  private markClosed(): void {
    this.closed = true;
    const cbs = this.closeCbs;
    this.closeCbs = [];
    for (const cb of cbs) cb(this.lastError);
  }
}
