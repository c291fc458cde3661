// Type definitions for connection-pool-core — the contract of API.md.
/// <reference types="node" />

import { EventEmitter } from 'node:events';

/** TLS settings for `https:` origins. */
export interface PoolTlsOptions {
  /** Trusted CA certificates (PEM); default: Node's root store plus NODE_EXTRA_CA_CERTS. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate chain (PEM). */
  cert?: string | Buffer | Array<string | Buffer>;
  /** Client private key (PEM). */
  key?: string | Buffer | Array<string | Buffer>;
  /** Verify the server certificate and host name. Default `true`. */
  rejectUnauthorized?: boolean;
  /** SNI and verification name; default: the URL's host name. */
  servername?: string;
  /** Lowest accepted protocol version. */
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** Resume TLS sessions across sockets of one origin. Default `true`. */
  sessionCache?: boolean;
}

/**
 * Pool configuration. Layers: built-in defaults, then environment variables,
 * then these options (an explicit option always wins). Invalid values make
 * the constructor throw a `PoolError` with code `ERR_POOL_CONFIG`.
 */
export interface PoolOptions {
  /** Reuse sockets; `false` = one request per connection with `Connection: close`. Env `KEEP_ALIVE_ENABLED`. Default `true`. */
  keepAlive?: boolean;
  /** TCP keep-alive initial delay in ms (SO_KEEPALIVE). Env `KEEP_ALIVE_MSECS`. Default `1000`. */
  keepAliveMsecs?: number;
  /** Open sockets per origin (active + idle). Env `MAX_SOCKETS`. Default `50`. */
  maxSockets?: number;
  /** Idle sockets kept per origin; extra idle sockets are closed. Env `MAX_FREE_SOCKETS`. Default `256`. */
  maxFreeSockets?: number;
  /** Open sockets across all origins. Default `Infinity`. */
  maxTotalSockets?: number;
  /** ms for TCP connect (+ TLS handshake). Env `CONNECTION_TIMEOUT`. Default `10000`. */
  connectTimeout?: number;
  /** Default ms for a whole `execute()` (queue + connect + response); `0` = none. Default `30000`. */
  timeout?: number;
  /** ms an idle socket is kept; a server `Keep-Alive: timeout=N` hint shortens it. Default `4000`. */
  freeSocketTimeout?: number;
  /** Which idle socket is reused: the hottest (`'lifo'`) or the oldest (`'fifo'`). Env `SOCKET_SCHEDULING`. Default `'lifo'`. */
  scheduling?: 'lifo' | 'fifo';
  /** TCP_NODELAY on every socket. Env `TCP_NO_DELAY`. Default `true`. */
  noDelay?: boolean;
  /** Max response body bytes; `Infinity` = no limit. Env `RESPONSE_SIZE_LIMIT`. Default `10485760`. */
  maxResponseSize?: number;
  /** Period in ms of the sweep that closes expired idle sockets and audits for leaks. Env `CLEANUP_PERIOD_MS`. Default `1000`. */
  cleanupPeriodMs?: number;
  /** Recycle a socket after this many requests. Default `Infinity`. */
  maxRequestsPerSocket?: number;
  /** ms after which a socket is closed once idle. Default `Infinity`. */
  maxSocketLifetime?: number;
  /** Requests waiting for a socket; beyond it `execute()` rejects `ERR_POOL_QUEUE_FULL`. Default `Infinity`. */
  maxQueue?: number;
  /** TLS settings for `https:` origins. Default `{}`. */
  tls?: PoolTlsOptions;
}

/** Request headers: a record, or `[name, value]` pairs (order and repeats kept). */
export type PoolRequestHeaders =
  | Record<string, string | number | ReadonlyArray<string>>
  | ReadonlyArray<readonly [string, string | number]>;

export interface ExecuteInit {
  /** HTTP method token. Default `'GET'`. */
  method?: string;
  /** `Host`, `Content-Length` and `Connection` are set by the pool unless given here. */
  headers?: PoolRequestHeaders;
  body?: string | Buffer | Uint8Array | null;
  /** ms for this whole request, overriding the pool's `timeout`; `0` = none. */
  timeout?: number;
  /** Aborting rejects the request with an `AbortError` (code `ABORT_ERR`). */
  signal?: AbortSignal;
}

/** Response headers by Node's rules: lower-case names, duplicates joined with `', '`, `set-cookie` an array. */
export interface PoolResponseHeaders {
  'set-cookie'?: string[];
  [name: string]: string | string[] | undefined;
}

/** Phases of one request, in ms. */
export interface PoolTimings {
  /** Time spent waiting for a socket. */
  queued: number;
  /** TCP connect (+ TLS); `0` on a reused socket. */
  connect: number;
  /** Time to the first response byte. */
  ttfb: number;
  /** The whole request. */
  total: number;
}

export interface PoolResponse {
  statusCode: number;
  statusMessage: string;
  headers: PoolResponseHeaders;
  /** The whole body, de-chunked (never decoded by `execute()`). */
  body: Buffer;
  /** Served on a socket that had served an earlier request. */
  reused: boolean;
  timings: PoolTimings;
}

/** Per-origin figures in `PoolMetrics.origins`. */
export interface PoolOriginMetrics {
  active: number;
  idle: number;
  pending: number;
  total: number;
}

/** Counters since the pool was created (plain numbers). */
export interface PoolMetrics {
  totalRequests: number;
  completedRequests: number;
  failedRequests: number;
  pendingRequests: number;
  /** Sockets ever opened. */
  totalConnections: number;
  /** Sockets serving a request now. */
  activeConnections: number;
  /** Sockets in the free lists now. */
  idleConnections: number;
  closedConnections: number;
  failedConnections: number;
  timedOutConnections: number;
  /** Requests served on a freshly opened socket. */
  newConnections: number;
  /** Requests served on a reused socket. */
  reusedConnections: number;
  /** reused / (new + reused) * 100; `0` when no requests. */
  socketReusePercentage: number;
  /** ms, connect (+TLS) of new sockets. */
  averageConnectionTime: number;
  /** ms, acquire time of reused sockets. */
  averageReuseTime: number;
  /** Sockets found in no valid state by the audit; `0` in a correct pool. */
  socketLeaks: number;
  /** TLS handshakes completed (full + resumed). */
  tlsHandshakes: number;
  /** TLS handshakes completed by resuming a cached session. */
  tlsResumed: number;
  bytesSent: number;
  bytesReceived: number;
  /** Bytes held by the native core now. */
  nativeMemory: number;
  /** Keyed by origin, e.g. `'http://127.0.0.1:8080'`. */
  origins: Record<string, PoolOriginMetrics>;
}

export type SocketCloseReason =
  | 'idle-timeout'
  | 'max-free'
  | 'max-requests'
  | 'lifetime'
  | 'server-closed'
  | 'error'
  | 'pool-closed'
  | 'no-keep-alive';

export interface SocketCreatedEvent {
  id: number;
  origin: string;
  /** ms, connect (+TLS). */
  connectTime: number;
}

export interface SocketReusedEvent {
  id: number;
  origin: string;
  uses: number;
}

export interface SocketClosedEvent {
  id: number;
  origin: string;
  reason: SocketCloseReason;
}

export interface SocketErrorEvent {
  id: number;
  origin: string;
  error: PoolError;
}

export interface LeakEvent {
  id: number;
  origin: string;
  state: string;
  detail: string;
}

export interface PoolEventMap {
  'socket:created': [SocketCreatedEvent];
  'socket:reused': [SocketReusedEvent];
  'socket:closed': [SocketClosedEvent];
  'socket:error': [SocketErrorEvent];
  leak: [LeakEvent];
}

/** Codes of API.md's error table. System errors carry Node's name instead (`'ECONNREFUSED'`, ...). */
export type PoolErrorCode =
  | 'ERR_INVALID_URL'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_POOL_CONNECT_TIMEOUT'
  | 'ERR_POOL_REQUEST_TIMEOUT'
  | 'ERR_POOL_RESPONSE_TOO_LARGE'
  | 'ERR_POOL_PARSE'
  | 'ERR_POOL_SOCKET_CLOSED'
  | 'ERR_POOL_QUEUE_FULL'
  | 'ERR_POOL_TLS'
  | 'ERR_POOL_CLOSED'
  | 'ABORT_ERR'
  | 'ERR_POOL_UNSUPPORTED'
  | 'ERR_POOL_NO_ENDPOINT'
  | 'ERR_POOL_CONFIG'
  /** A BalancedPool endpoint answered 502/503/504 (in `err.errors` and `getStats()`). */
  | 'ERR_POOL_HTTP_STATUS';

export interface PoolErrorProps {
  origin?: string;
  url?: string;
  reason?: string;
  syscall?: string;
  errno?: number;
  cause?: unknown;
  errors?: Error[];
}

/**
 * Every error the pool reports. `instanceof PoolError` also matches errors
 * from another loaded copy of the package (brand check).
 */
export declare class PoolError extends Error {
  constructor(code: PoolErrorCode | (string & {}), message?: string, props?: PoolErrorProps);
  /** `'AbortError'` for `ABORT_ERR`, `'PoolError'` otherwise. */
  name: 'PoolError' | 'AbortError';
  code: PoolErrorCode | (string & {});
  origin?: string;
  url?: string;
  /** llhttp's `HPE_*` reason for `ERR_POOL_PARSE`, OpenSSL's text for `ERR_POOL_TLS`. */
  reason?: string;
  syscall?: string;
  errno?: number;
  /** For `ERR_POOL_NO_ENDPOINT`: each endpoint's last error. */
  errors?: Error[];
  static [Symbol.hasInstance](instance: unknown): boolean;
}

/** `pool.fetch`'s init: the standard fields (those meaning nothing in Node are ignored) plus the pool's `timeout`. */
export type PoolFetchInit = RequestInit & {
  /** ms for each request of this fetch, overriding the pool's `timeout`; `0` = none. */
  timeout?: number;
};

/** A WHATWG `fetch` served by the pool; bound, so it can be passed around as a plain function. */
export type PoolFetch = (input: string | URL | Request, init?: PoolFetchInit) => Promise<Response>;

/**
 * An undici `Dispatcher` served by the pool (`setGlobalDispatcher(pool.dispatcher)`).
 * Extends undici's `Dispatcher` class when undici is installed, else an `EventEmitter` of the same shape.
 */
export interface PoolDispatcher extends EventEmitter {
  /** Both handler styles (onConnect/onHeaders/... and undici 7's onRequestStart/onResponseStart/...). */
  dispatch(options: object, handler: object): boolean;
  /** Closes the pool gracefully (it is the pool's dispatcher). */
  close(): Promise<void>;
  close(callback: (err: Error | null) => void): void;
  /** Destroys the pool: requests in flight fail with `ERR_POOL_CLOSED` or `err`. */
  destroy(err?: Error | null): Promise<void>;
  destroy(callback: (err: Error | null) => void): void;
  destroy(err: Error | null, callback: (err: Error | null) => void): void;
  compose(...interceptors: Array<((dispatch: any) => any) | null | undefined>): PoolDispatcher;
  readonly closed: boolean;
  readonly destroyed: boolean;
}

export declare class ConnectionPoolCore extends EventEmitter {
  /** @throws {PoolError} `ERR_POOL_CONFIG` for a bad option or environment value. */
  constructor(options?: PoolOptions);

  /** WHATWG `fetch` over the pool: decodes gzip/deflate/br, follows redirects, errors as `TypeError('fetch failed', { cause })`. */
  readonly fetch: PoolFetch;
  /** undici `Dispatcher` over the pool, for `setGlobalDispatcher()` or a `dispatcher` option. */
  readonly dispatcher: PoolDispatcher;

  /** Sends one request; resolves once the whole response has been read. Errors reject with a `PoolError`. */
  execute(url: string | URL, init?: ExecuteInit): Promise<PoolResponse>;
  getMetrics(): PoolMetrics;
  /** Opens up to `count` idle sockets to the origin (bounded by `maxSockets`); resolves with how many are idle now. */
  warmup(url: string | URL, count: number): Promise<number>;
  /** Graceful: new work rejects `ERR_POOL_CLOSED`, in-flight and queued requests finish, then every socket closes. */
  close(): Promise<void>;
  /** Immediate: in-flight and queued requests reject (`ERR_POOL_CLOSED` or `err`), every socket closes now. */
  destroy(err?: Error): void;

  on<K extends keyof PoolEventMap>(event: K, listener: (...args: PoolEventMap[K]) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<K extends keyof PoolEventMap>(event: K, listener: (...args: PoolEventMap[K]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<K extends keyof PoolEventMap>(event: K, listener: (...args: PoolEventMap[K]) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  off<K extends keyof PoolEventMap>(event: K, listener: (...args: PoolEventMap[K]) => void): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<K extends keyof PoolEventMap>(event: K, listener: (...args: PoolEventMap[K]) => void): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  emit<K extends keyof PoolEventMap>(event: K, ...args: PoolEventMap[K]): boolean;
  emit(event: string | symbol, ...args: any[]): boolean;
}

/** Every code of API.md's error table with its default message. */
export declare const ERROR_CODES: Readonly<Record<PoolErrorCode, string>>;

/**
 * The options the environment alone produces (validated like the
 * constructor's), so a service can log its effective configuration.
 * @throws {PoolError} `ERR_POOL_CONFIG` naming the variable and the bad value.
 */
export declare function configFromEnv(env?: NodeJS.ProcessEnv): PoolOptions;

/** What ethers v6 expects from a getUrl function (its `GetUrlResponse`). */
export interface EthersGetUrlResponse {
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

/**
 * ethers v6 over the pool: `FetchRequest.registerGetUrl(createEthersGetUrl(pool))`,
 * or `req.getUrlFunc = createEthersGetUrl(pool)` for one provider.
 */
export declare function createEthersGetUrl(
  pool: ConnectionPoolCore,
): (req: { url: string; method: string; headers: Record<string, string>; body: Uint8Array | null; timeout: number },
  signal?: { cancelled: boolean; addListener(listener: () => void): void }) => Promise<EthersGetUrlResponse>;

// ---- BalancedPool ------------------------------------------------------------

export type BalancedStrategy = 'round-robin' | 'least-pending' | 'least-latency';
export type EndpointHealth = 'healthy' | 'degraded' | 'unhealthy' | 'dead';
export type EndpointBreaker = 'closed' | 'open' | 'half-open';

export interface HealthThresholds {
  healthyMs?: number;
  degradedMs?: number;
  unhealthyFailures?: number;
  deadFailures?: number;
}

export interface BalancedPoolOptions {
  /** The pool the endpoints share (default: a new ConnectionPoolCore, closed with this). */
  pool?: ConnectionPoolCore;
  strategy?: BalancedStrategy;
  /** Health probes; off when `false` or absent. */
  health?: false | {
    path?: string;
    method?: string;
    headers?: Record<string, string> | Array<[string, string]>;
    body?: string;
    intervalMs?: number;
    timeoutMs?: number;
    /** Also accepted at the top level; a value given here wins. */
    thresholds?: HealthThresholds;
  };
  /** Health classes (requests move them too, probes on or off). */
  thresholds?: HealthThresholds;
  breaker?: { consecutiveFailures?: number; cooldownMs?: number };
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; budgetPercent?: number };
}

export interface BalancedExecuteInit extends ExecuteInit {
  /** Lets a non-idempotent method (POST) be retried after it reached a server. */
  idempotent?: boolean;
}

export interface EndpointStats {
  origin: string;
  health: EndpointHealth;
  breaker: EndpointBreaker;
  /** EWMA of response times, ms; 0 before the first sample. */
  ewmaMs: number;
  inflight: number;
  requests: number;
  failures: number;
  consecutiveFailures: number;
  lastError: PoolError | null;
}

export interface EndpointHealthEvent { origin: string; from: EndpointHealth; to: EndpointHealth; reason: string }
export interface EndpointBreakerEvent { origin: string; from: EndpointBreaker; to: EndpointBreaker }

export declare class BalancedPool extends EventEmitter {
  constructor(urls: Array<string | URL>, options?: BalancedPoolOptions);
  readonly pool: ConnectionPoolCore;
  /** A path ('/') or an absolute URL of a member. */
  execute(pathOrUrl: string | URL, init?: BalancedExecuteInit): Promise<PoolResponse>;
  fetch(pathOrUrl: string | URL, init?: PoolFetchInit & { idempotent?: boolean }): Promise<Response>;
  getStats(): { endpoints: EndpointStats[] };
  addEndpoint(url: string | URL): void;
  removeEndpoint(url: string | URL): boolean;
  close(): Promise<void>;
  on(event: 'endpoint:health', listener: (e: EndpointHealthEvent) => void): this;
  on(event: 'endpoint:breaker', listener: (e: EndpointBreakerEvent) => void): this;
}
