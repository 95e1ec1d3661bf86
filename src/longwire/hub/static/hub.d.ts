// TypeScript declarations for hub.js (LongwireHub, longwire.hub's browser client).
// Classic script, served in {prefix}/longwire.js: globalThis.Longwire.LongwireHub,
// globalThis.Longwire.HubError and globalThis.LongwireHub.

export type HubTransport = "websocket" | "sse" | "streaming" | "polling";

export type HubState = "connecting" | "connected" | "disconnected" | "closed";

/** {epoch, offset}: where a channel's stream of publications stands. */
export interface HubPosition {
  epoch: string;
  offset: number;
}

export interface HubMember {
  /** The client id. */
  client: string;
  /** The user id from the server's authentication (null: anonymous). */
  user: string | null;
  info: unknown;
}

export interface HubOptions {
  /** Given to the server's `authenticate` hook; a function is called on each connect. */
  token?: string | (() => string | null | undefined | Promise<string | null | undefined>);
  /** Transports to try, in order (default all four, WebSocket first). */
  transports?: HubTransport[];
  /** Milliseconds a call waits for its answer (default 10000). */
  timeout?: number;
  /** Milliseconds a transport has to connect before the next is tried (default 5000). */
  connectTimeout?: number;
  /** First reconnect delay in ms (default 250), doubled per failed round up to the maximum. */
  minReconnectDelay?: number;
  /** Largest reconnect delay in ms (default 10000). */
  maxReconnectDelay?: number;
  /** Send cookies cross-origin (fetch credentials "include", EventSource withCredentials). */
  withCredentials?: boolean;
  /**
   * Methods the server may call (`hub.call(client, method, params)`): array
   * params are spread as arguments, an object is the one argument. Return
   * the result (or a promise); throw `{code, message, data?}` for that error.
   */
  methods?: Record<string, (...params: any[]) => unknown>;
}

export interface SubscriptionHandlers {
  onpublication?: (data: any, position: HubPosition) => void;
  onjoin?: (member: HubMember) => void;
  onleave?: (member: Pick<HubMember, "client"> & Partial<HubMember>) => void;
  /** Each time the subscription is (re)established (after each reconnect too). */
  onsubscribed?: (state: HubPosition & { recovered: boolean }) => void;
  /** What was missed could not be recovered: reload the state; publications go on from here. */
  onreset?: (position: HubPosition & { reason?: string }) => void;
  /** The server ended the subscription. */
  onunsubscribed?: (info: { reason: string }) => void;
  /** Subscribing failed (forbidden, unknown channel): the subscription is over. */
  onerror?: (error: HubError) => void;
}

export interface SubscribeOptions extends SubscriptionHandlers {
  /** Start after this position (one kept from an earlier visit). */
  since?: HubPosition;
}

export interface HubPublication extends HubPosition {
  data: any;
}

export interface HubHistory extends HubPosition {
  /** Whether the publications reach back to `since`. */
  complete: boolean;
  publications: HubPublication[];
}

export declare class Subscription implements SubscriptionHandlers {
  readonly channel: string;
  readonly state: "subscribing" | "subscribed" | "unsubscribed";
  /** The last publication taken (null before the first subscribe answer). */
  readonly position: HubPosition | null;
  onpublication: SubscriptionHandlers["onpublication"] | null;
  onjoin: SubscriptionHandlers["onjoin"] | null;
  onleave: SubscriptionHandlers["onleave"] | null;
  onsubscribed: SubscriptionHandlers["onsubscribed"] | null;
  onreset: SubscriptionHandlers["onreset"] | null;
  onunsubscribed: SubscriptionHandlers["onunsubscribed"] | null;
  onerror: SubscriptionHandlers["onerror"] | null;
  publish(data: unknown): Promise<HubPosition>;
  presence(): Promise<Record<string, { user: string | null; info: unknown }>>;
  history(options?: { limit?: number; since?: HubPosition }): Promise<HubHistory>;
  unsubscribe(): void;
}

/**
 * A JSON-RPC error (`code`, `message`, `data`); also name "TimeoutError" (no
 * answer in time), "ConnectionLost" (the connection went before the answer:
 * the call may or may not have run) and "Closed" (`close()` was called).
 */
export declare class HubError extends Error {
  readonly code: number | undefined;
  readonly data: unknown;
}

export declare class LongwireHub {
  constructor(url: string | URL, options?: HubOptions);
  static readonly TRANSPORTS: HubTransport[];
  static readonly HubError: typeof HubError;
  /** The hub's URL (its mount prefix), absolute. */
  readonly url: string;
  readonly state: HubState;
  /** The transport in use (null while not connected). */
  readonly transport: HubTransport | null;
  /** The client id (kept across reconnects), null before the first connect. */
  readonly client: string | null;
  readonly user: string | null;
  readonly info: unknown;
  /** The subscriptions by channel (a copy). */
  readonly subscriptions: Map<string, Subscription>;
  onconnect: ((info: { client: string; transport: HubTransport }) => void) | null;
  ondisconnect: ((info: { reason: string; code?: number }) => void) | null;
  /** `hub.send(client, data)` on the server. */
  onmessage: ((data: any) => void) | null;
  onerror: ((error: HubError) => void) | null;
  /** The server subscribed this client (`hub.subscribe(client, channel)`): attach handlers. */
  onsubscribe: ((subscription: Subscription) => void) | null;
  subscribe(channel: string, options?: SubscribeOptions): Subscription;
  call(method: string, params?: unknown[] | Record<string, unknown>): Promise<any>;
  close(): void;
}

declare global {
  // eslint-disable-next-line no-var
  var LongwireHub: typeof import("./hub").LongwireHub;
}
