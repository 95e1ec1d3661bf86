// TypeScript declarations for longwire.js (longwire.realtime's browser client).
// Classic script: globalThis.Longwire and globalThis.LongwireSocket.
// ES module (served as {prefix}/longwire.mjs): `import { LongwireSocket } from "/rt/longwire.mjs"`.

export type LongwireTransport = "websocket" | "sse" | "streaming" | "polling";

export interface LongwireReconnectOptions {
  /** Reconnect after a lost connection (default true). */
  enabled?: boolean;
  /** First delay in ms (default 250). */
  minDelay?: number;
  /** Largest delay in ms (default 10000). */
  maxDelay?: number;
  /** Delay growth per failed attempt (default 2). */
  factor?: number;
  /** Fraction of the delay taken off at random, 0-1 (default 0.5). */
  jitter?: number;
  /** Attempts before giving up with close code 1006 (default Infinity). */
  maxAttempts?: number;
}

export interface LongwireSocketOptions {
  /** Transports to try, in order (default all four, WebSocket first). */
  transports?: LongwireTransport[];
  /** Milliseconds between heartbeat pings (default 15000). */
  heartbeat?: number;
  /** Milliseconds a transport has to connect before the next is tried (default 5000). */
  connectTimeout?: number;
  /** Milliseconds close() waits for the server's close frame (default 3000). */
  closeTimeout?: number;
  /** Send cookies cross-origin (fetch credentials "include", EventSource withCredentials). */
  withCredentials?: boolean;
  reconnect?: LongwireReconnectOptions;
}

export interface LongwireSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: Event;
  close: CloseEvent;
}

export declare class LongwireSocket {
  constructor(url: string | URL, options?: LongwireSocketOptions);
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  /** The session prefix URL, absolute. */
  readonly url: string;
  /** 0 connecting, 1 open (also while reconnecting), 2 closing, 3 closed. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** The transport in use, or null between connections. */
  readonly transport: LongwireTransport | null;
  /** The session id, once the server gave one. */
  readonly id: string | null;
  /** Bytes of messages sent and not yet acknowledged by the server. */
  readonly bufferedAmount: number;
  binaryType: "blob" | "arraybuffer";
  onopen: ((this: LongwireSocket, event: Event) => unknown) | null;
  onmessage: ((this: LongwireSocket, event: MessageEvent) => unknown) | null;
  onerror: ((this: LongwireSocket, event: Event) => unknown) | null;
  onclose: ((this: LongwireSocket, event: CloseEvent) => unknown) | null;
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  addEventListener<K extends keyof LongwireSocketEventMap>(
    type: K,
    listener: (this: LongwireSocket, event: LongwireSocketEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof LongwireSocketEventMap>(
    type: K,
    listener: (this: LongwireSocket, event: LongwireSocketEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  dispatchEvent(event: Event): boolean;
}

export declare const TRANSPORTS: LongwireTransport[];
export default LongwireSocket;

declare global {
  var Longwire: { LongwireSocket: typeof LongwireSocket; TRANSPORTS: LongwireTransport[] };
  var LongwireSocket: typeof import("./longwire").LongwireSocket;
}
