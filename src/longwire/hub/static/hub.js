/*
 * hub.js: LongwireHub, the browser client of a longwire.hub.Hub.
 *
 * Channels with publications numbered (epoch, offset), presence, client and
 * server RPC, over WebSocket, then Server-Sent Events, HTTP streaming or long
 * polling (+ POST upstream): the client side of docs/hub-protocol.md. Every
 * message is JSON-RPC 2.0.
 *
 * A classic script, served after longwire.js in {prefix}/longwire.js: defines
 * globalThis.Longwire.LongwireHub (creating globalThis.Longwire if absent),
 * globalThis.Longwire.HubError and globalThis.LongwireHub. No dependencies.
 */
(function (root) {
  "use strict";

  const TRANSPORTS = ["websocket", "sse", "streaming", "polling"];
  const MAX_BATCH = 500; // messages per upstream POST
  const JITTER = 0.5; // fraction of a reconnect delay taken off at random
  const RETRY_BROKER = 1000; // ms before a subscribe refused with -32005 is tried again
  // Subscribes in a row to fill one gap before taking what comes: a server
  // that never has the missing offsets must not make the client ask forever.
  const MAX_MENDING = 3;

  // JSON-RPC error codes (docs/hub-protocol.md).
  const NOT_CONNECTED = -32001;
  const FORBIDDEN = -32003;
  const BROKER_UNAVAILABLE = -32005;
  const METHOD_NOT_FOUND = -32601;
  const INTERNAL_ERROR = -32603;

  /** A JSON-RPC error (code, message, data), a timeout or a lost connection. */
  class HubError extends Error {
    constructor(message, code, data, name) {
      super(message);
      this.name = name || "HubError";
      this.code = code;
      this.data = data;
    }
  }

  function fromRpcError(error) {
    const e = error || {};
    return new HubError(String(e.message || "error"), e.code, e.data);
  }

  function connectionLost() {
    return new HubError("connection lost before the answer", undefined, undefined, "ConnectionLost");
  }

  function rethrow(error) {
    // An application callback threw: report it without breaking the client.
    setTimeout(() => { throw error; }, 0);
  }

  function callback(target, name, ...args) {
    const fn = target[name];
    if (typeof fn !== "function") return undefined;
    try {
      return fn.apply(target, args);
    } catch (error) {
      rethrow(error);
      return undefined;
    }
  }

  // Connections. A connection is one attempt on one transport: start() it;
  // it reports to the hub through hub._received(conn, text) (downstream) and
  // hub._lost(conn, reason). conn.ready: connect answered; conn.live: in use.

  class WebSocketConn {
    constructor(hub) {
      this.hub = hub;
      this.name = "websocket";
      this.http = false;
      this.ws = null;
    }

    start() {
      const hub = this.hub;
      const url = new URL(hub.url + "/ws");
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      const ws = this.ws = new WebSocket(url.href, "jsonrpc");
      ws.onopen = () => hub._handshake(this);
      ws.onmessage = (event) => hub._received(this, event.data);
      ws.onerror = () => {};
      ws.onclose = (event) => hub._lost(this, {
        reason: event.reason || "websocket closed (" + event.code + ")",
        code: event.code,
        fatal: event.code === 4003,
      });
    }

    send(messages) {
      if (!this.ws || this.ws.readyState !== 1) return false;
      this.ws.send(JSON.stringify(messages.length === 1 ? messages[0] : messages));
      return true;
    }

    stop() {
      const ws = this.ws;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState <= 1) ws.close();
      this.ws = null;
    }
  }

  /** SSE, streaming or polling: connect and upstream by POST, a downstream GET. */
  class HttpConn {
    constructor(hub, name) {
      this.hub = hub;
      this.name = name;
      this.http = true;
      this.generation = 0; // bumped on each (re)open of the downstream
      this.source = null;
      this.abort = null;
      this.timer = null;
      this.listed = "";
    }

    start() { this.hub._handshake(this); }

    /** Open the downstream with the current positions (closing any open one). */
    openDownstream() {
      this.closeDownstream();
      const hub = this.hub;
      const generation = this.generation;
      const current = () => generation === this.generation && hub._conn === this;
      this.listed = hub._listed();
      hub._lastSeen = Date.now();
      if (this.name === "sse") {
        const source = this.source = new EventSource(hub._downstreamUrl("sse"),
          { withCredentials: hub._options.withCredentials });
        source.onmessage = (event) => { if (current()) hub._received(this, event.data); };
        source.onerror = () => {
          if (current()) hub._lost(this, { reason: "event stream failed" });
        };
        return;
      }
      const abort = this.abort = new AbortController();
      const get = (path) => fetch(hub._downstreamUrl(path), {
        credentials: hub._credentials(), cache: "no-store", signal: abort.signal,
      }).then((response) => {
        if (!response.ok) throw { status: response.status };
        return response;
      });
      const failed = (error) => {
        if (!current()) return;
        hub._lost(this, { reason: this.name + " request failed", status: error && error.status });
      };
      if (this.name === "streaming") {
        get("stream").then((response) => {
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffered = "";
          const pump = () => reader.read().then((chunk) => {
            if (chunk.done) throw { status: 0 };
            if (!current()) return undefined;
            buffered += decoder.decode(chunk.value, { stream: true });
            const lines = buffered.split("\n");
            buffered = lines.pop();
            for (const line of lines) if (line.trim() && current()) hub._received(this, line);
            return pump();
          });
          return pump();
        }).catch(failed);
        return;
      }
      // Long polling: each answer is processed, then the next poll goes with
      // the positions it moved. A poll unanswered for poll + hb + 1 s is dead.
      const poll = () => {
        if (!current()) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => abort.abort(), hub._poll + hub._hb + 1000);
        get("poll").then((response) => response.text()).then((text) => {
          clearTimeout(this.timer);
          if (!current()) return;
          hub._received(this, text);
          // The hub may have reopened (a new generation) while handling it.
          this.listed = hub._listed();
          poll();
        }).catch(failed);
      };
      poll();
    }

    closeDownstream() {
      this.generation++;
      clearTimeout(this.timer);
      if (this.source) this.source.close();
      if (this.abort) this.abort.abort();
      this.source = this.abort = null;
    }

    stop() { this.closeDownstream(); }
  }

  function makeConn(hub, name) {
    return name === "websocket" ? new WebSocketConn(hub) : new HttpConn(hub, name);
  }

  /** One channel the client reads, kept across reconnects. */
  class Subscription {
    constructor(hub, channel, handlers, personal) {
      this.hub = hub;
      this.channel = channel;
      this.state = "subscribing"; // "subscribed", then "unsubscribed"
      this.onpublication = this.onjoin = this.onleave = null;
      this.onsubscribed = this.onreset = this.onerror = this.onunsubscribed = null;
      Object.assign(this, handlers || {});
      this._personal = !!personal;
      this._pos = null; // {e, o} of the last publication taken
      this._since = null;
      this._grant = null;
      this._pending = null; // the subscribe call in flight (a promise that never rejects)
      this._buffer = []; // publications that came while a subscribe was in flight
      this._closed = false;
      this._mending = 0; // subscribes sent in a row to fill a gap
    }

    /** {epoch, offset} of the last publication taken (null before the first subscribe answer). */
    get position() {
      return this._pos ? { epoch: this._pos.e, offset: this._pos.o } : null;
    }

    /** Publish `data` (any JSON) to the channel: resolves to {epoch, offset}. */
    publish(data) {
      return this.hub._call("publish", { ch: this.channel, data: data })
        .then((r) => ({ epoch: r.e, offset: r.o }));
    }

    /** The clients in the channel: resolves to {clientId: {user, info}}. */
    presence() {
      return this.hub._call("presence", { ch: this.channel }).then((r) => r.clients);
    }

    /**
     * The channel's history: resolves to {epoch, offset, complete, publications:
     * [{data, epoch, offset}]}, oldest first.
     */
    history(options) {
      const params = { ch: this.channel };
      const o = options || {};
      if (o.limit !== undefined) params.limit = o.limit;
      if (o.since) params.since = { e: o.since.epoch, o: o.since.offset };
      return this.hub._call("history", params).then((r) => ({
        epoch: r.e,
        offset: r.o,
        complete: r.complete,
        publications: (r.pubs || []).map((p) => ({ data: p.d, epoch: p.e, offset: p.o })),
      }));
    }

    /** Stop reading the channel (and leave its presence). */
    unsubscribe() {
      if (this._closed) return;
      this._end();
      const hub = this.hub;
      if (hub._ready()) hub._call("unsubscribe", { ch: this.channel }, { internal: true }).catch(() => {});
      hub._channelsChanged();
    }

    _end() {
      this._closed = true;
      this.state = "unsubscribed";
      this._buffer = [];
      if (this.hub._subs.get(this.channel) === this) this.hub._subs.delete(this.channel);
      this.hub._dropQueued(this);
    }

    /** Send `subscribe` (with `since` our position): resolves once answered. */
    _subscribe(front) {
      if (this._pending) return this._pending;
      const params = { ch: this.channel };
      const since = this._pos || this._since;
      if (since) params.since = { e: since.e, o: since.o };
      if (this._grant) params.grant = this._grant;
      this._pending = this.hub._call("subscribe", params, { internal: true, front: front, owner: this })
        .then((result) => this._subscribed(result, !!since), (error) => this._failed(error));
      return this._pending;
    }

    _subscribed(result, withSince) {
      this._pending = null;
      if (this._closed) return;
      this.state = "subscribed";
      const recovered = !withSince || result.recovered !== false;
      if (withSince && recovered && this._pos) {
        const pubs = (result.pubs || []).slice().sort((a, b) => a.o - b.o);
        for (const pub of pubs) {
          if (this._closed) return;
          if (pub.e === this._pos.e && pub.o > this._pos.o) {
            this._pos = { e: pub.e, o: pub.o };
            this._deliver(pub);
          }
        }
      }
      if (this._closed) return;
      if (!this._pos || result.e !== this._pos.e || result.o > this._pos.o) {
        this._pos = { e: result.e, o: result.o };
      }
      this._since = null;
      if (!recovered) {
        callback(this, "onreset", { epoch: result.e, offset: result.o, reason: "not recovered" });
      }
      callback(this, "onsubscribed", { recovered: recovered, epoch: result.e, offset: result.o });
      this._drain();
      this.hub._channelsChanged();
    }

    _failed(error) {
      this._pending = null;
      if (this._closed) return;
      if (error.name === "ConnectionLost") return; // subscribed again on reconnect
      if (error.code === BROKER_UNAVAILABLE) {
        setTimeout(() => { if (!this._closed && this.hub._ready()) this._subscribe(false); }, RETRY_BROKER);
        return;
      }
      if (error.code === NOT_CONNECTED && this.hub._conn) {
        this.hub._lost(this.hub._conn, { reason: "not connected" });
        return;
      }
      this._end();
      if (!callback(this, "onerror", error) && typeof this.onerror !== "function") {
        this.hub._error(error);
      }
      this.hub._channelsChanged();
    }

    /** A publication arrived: take it if it is the next one, drop a duplicate, mend a gap. */
    _take(pub) {
      if (this._closed) return;
      if (this._pending || !this._pos) {
        this._buffer.push(pub);
        return;
      }
      const pos = this._pos;
      if (pub.e === pos.e && pub.o <= pos.o) return; // a duplicate
      if ((pub.e !== pos.e || pub.o > pos.o + 1) && this._mending < MAX_MENDING) {
        // A gap (or a new epoch without a reset): ask again with our position.
        this._buffer.push(pub);
        if (this.hub._ready()) {
          this._mending++;
          this._subscribe(false);
        }
        return;
      }
      // The next one (or, after asking in vain, the first one past the gap).
      this._mending = 0;
      this._pos = { e: pub.e, o: pub.o };
      this._deliver(pub);
    }

    _drain() {
      const buffered = this._buffer.sort((a, b) => a.o - b.o);
      this._buffer = [];
      for (const pub of buffered) this._take(pub);
    }

    _reset(params) {
      if (this._closed) return;
      this._pos = { e: params.e, o: params.o };
      callback(this, "onreset", { epoch: params.e, offset: params.o, reason: params.reason });
      this._drain();
    }

    _deliver(pub) {
      if (this._personal) this.hub._personal(pub.d);
      else callback(this, "onpublication", pub.d, { epoch: pub.e, offset: pub.o });
    }
  }

  /**
   * A client of a longwire.hub.Hub mounted at `url` ("/rt" or
   * "https://example.com/rt").
   */
  class LongwireHub {
    constructor(url, options) {
      const given = options || {};
      this._options = {
        token: undefined,
        transports: TRANSPORTS.slice(),
        timeout: 10000,
        connectTimeout: 5000,
        minReconnectDelay: 250,
        maxReconnectDelay: 10000,
        withCredentials: false,
        methods: {},
      };
      for (const key of Object.keys(given)) if (given[key] !== undefined) this._options[key] = given[key];
      this.url = new URL(url, root.location ? root.location.href : undefined).href.replace(/\/+$/, "");
      const transports = this._options.transports;
      const unknown = transports.filter((t) => TRANSPORTS.indexOf(t) < 0);
      if (unknown.length || !transports.length) {
        throw new TypeError("unknown transports: " + unknown.join(", "));
      }
      this.state = "connecting";
      this.transport = null;
      this.client = null;
      this.user = null;
      this.info = null;
      this.onconnect = this.ondisconnect = this.onmessage = this.onerror = this.onsubscribe = null;
      this._subs = new Map();
      this._personalSub = null;
      this._session = null;
      this._hb = 25000;
      this._poll = 25000;
      this._calls = new Map(); // id -> {resolve, reject, timer, message, sent, owner}
      this._queue = []; // messages waiting to go up
      this._nextId = 1;
      this._conn = null;
      this._index = 0;
      this._attempt = 0;
      this._posting = false;
      this._lastSeen = 0;
      this._timers = {};
      setTimeout(() => this._connect(), 0);
    }

    /** The subscriptions, by channel name (a new Map each time). */
    get subscriptions() { return new Map(this._subs); }

    /**
     * Read `channel`: handlers {onpublication(data, {epoch, offset}), onjoin(member),
     * onleave(member), onsubscribed({recovered, epoch, offset}), onreset({epoch, offset}),
     * onunsubscribed({reason}), onerror(error)}, and optionally `since: {epoch, offset}`
     * to get what was published after a position kept from earlier.
     */
    subscribe(channel, handlers) {
      if (this.state === "closed") throw new Error("the hub client is closed");
      const existing = this._subs.get(channel);
      if (existing) throw new Error("already subscribed to " + channel);
      const h = Object.assign({}, handlers || {});
      const since = h.since;
      delete h.since;
      const sub = new Subscription(this, channel, h, false);
      if (since) sub._since = { e: since.epoch, o: since.offset };
      this._subs.set(channel, sub);
      if (this._ready()) sub._subscribe(false);
      return sub;
    }

    /** Call a method of the server (`@hub.method`): resolves to its result. */
    call(method, params) {
      return this._call(method, params);
    }

    /** Stop: close the connection, cancel timers, reject the calls in flight. */
    close() {
      if (this.state === "closed") return;
      this.state = "closed";
      const conn = this._conn;
      this._conn = null;
      if (conn) conn.stop();
      this._stopTimers();
      clearTimeout(this._timers.reconnect);
      clearTimeout(this._timers.connect);
      this.transport = null;
      this._queue = [];
      for (const [id, call] of this._calls) {
        clearTimeout(call.timer);
        this._calls.delete(id);
        call.reject(new HubError("the hub client is closed", undefined, undefined, "Closed"));
      }
    }

    // Calls out.

    _call(method, params, how) {
      const options = how || {};
      if (this.state === "closed") {
        return Promise.reject(new HubError("the hub client is closed", undefined, undefined, "Closed"));
      }
      const id = this._nextId++;
      const message = { jsonrpc: "2.0", id: id, method: method };
      if (params !== undefined) message.params = params;
      return new Promise((resolve, reject) => {
        const call = { resolve, reject, message, sent: null, owner: options.owner, timer: null };
        const timeout = options.internal ? options.timeout : this._options.timeout;
        if (timeout) {
          call.timer = setTimeout(() => {
            this._calls.delete(id);
            const at = this._queue.indexOf(message);
            if (at >= 0) this._queue.splice(at, 1);
            reject(new HubError(method + ": no answer within " + timeout + " ms", undefined,
              undefined, "TimeoutError"));
          }, timeout);
        }
        this._calls.set(id, call);
        if (options.front) this._queue.unshift(message);
        else this._queue.push(message);
        this._scheduleFlush();
      });
    }

    _dropQueued(owner) {
      for (const [id, call] of this._calls) {
        if (call.owner !== owner || call.sent) continue;
        const at = this._queue.indexOf(call.message);
        if (at >= 0) this._queue.splice(at, 1);
        clearTimeout(call.timer);
        this._calls.delete(id);
        call.reject(connectionLost());
      }
    }

    _ready() { return !!(this._conn && this._conn.ready); }

    _scheduleFlush() {
      if (this._timers.flush) return;
      this._timers.flush = setTimeout(() => { this._timers.flush = null; this._flush(); }, 0);
    }

    _markSent(batch, conn) {
      for (const message of batch) {
        if (message.method === undefined) continue;
        const call = this._calls.get(message.id);
        if (call) call.sent = conn;
      }
    }

    _flush() {
      const conn = this._conn;
      if (!conn || !conn.ready || !this._queue.length) return;
      if (!conn.http) {
        const batch = this._queue.splice(0);
        this._markSent(batch, conn);
        conn.send(batch);
        return;
      }
      if (this._posting) return; // the POST in flight flushes again when answered
      const batch = this._queue.splice(0, MAX_BATCH);
      this._markSent(batch, conn);
      this._posting = true;
      this._post(conn, batch, true).then(() => {
        if (conn !== this._conn) return;
        this._posting = false;
        // Every request of the batch has its answer by now.
        for (const message of batch) {
          const call = message.method !== undefined && this._calls.get(message.id);
          if (!call) continue;
          this._calls.delete(message.id);
          clearTimeout(call.timer);
          call.reject(new HubError("no answer in the POST's response", INTERNAL_ERROR));
        }
        this._flush();
      }, (error) => {
        if (conn !== this._conn) return;
        this._posting = false;
        this._lost(conn, { reason: "POST failed", status: error && error.status });
      });
    }

    /** POST messages to {url}/rpc; the answers are handled as they come. */
    _post(conn, messages, withSession) {
      let url = this.url + "/rpc";
      if (withSession) url += "?s=" + encodeURIComponent(this._session);
      const abort = new AbortController();
      // A POST unanswered for this long went to a dead connection.
      const limit = Math.max(this._options.timeout, 2 * this._hb) + 1000;
      const timer = setTimeout(() => abort.abort(), limit);
      return fetch(url, {
        method: "POST",
        body: JSON.stringify(messages.length === 1 ? messages[0] : messages),
        headers: { "Content-Type": "application/json" },
        credentials: this._credentials(),
        cache: "no-store",
        signal: abort.signal,
      }).then((response) => response.text().then((text) => {
        clearTimeout(timer);
        if (!response.ok) throw { status: response.status };
        if (conn !== this._conn || !text.trim()) return;
        this._handle(conn, JSON.parse(text));
      }), (error) => { clearTimeout(timer); throw error; });
    }

    _credentials() { return this._options.withCredentials ? "include" : "same-origin"; }

    // Connecting, fallback and reconnecting.

    _connect() {
      if (this.state === "closed") return;
      this.state = "connecting";
      const transports = this._options.transports;
      const conn = this._conn = makeConn(this, transports[this._index % transports.length]);
      this._timers.connect = setTimeout(() => {
        if (this._conn === conn && !conn.live) this._lost(conn, { reason: "connect timed out" });
      }, this._options.connectTimeout);
      try {
        conn.start();
      } catch (error) {
        setTimeout(() => this._lost(conn, { reason: String(error) }), 0);
      }
    }

    /** The transport is open (WebSocket) or chosen (HTTP): send `connect`. */
    _handshake(conn) {
      if (conn !== this._conn) return;
      Promise.resolve(typeof this._options.token === "function" ? this._options.token() : this._options.token)
        .then((token) => {
          if (conn !== this._conn) return undefined;
          const params = {};
          if (token !== undefined && token !== null) params.token = token;
          if (this._session) params.session = this._session;
          const id = this._nextId++;
          const message = { jsonrpc: "2.0", id: id, method: "connect", params: params };
          const answered = new Promise((resolve, reject) => {
            this._calls.set(id, { resolve, reject, message, sent: conn, timer: null });
          });
          if (conn.http) {
            this._post(conn, [message], false).catch((error) => {
              this._lost(conn, { reason: "connect failed", status: error && error.status,
                fatal: error && error.status === 403 });
            });
          } else {
            conn.send([message]);
          }
          return answered.then((result) => this._connected(conn, result), (error) => {
            if (conn !== this._conn || error.name === "ConnectionLost") return;
            if (params.session && error.code !== undefined) {
              // The session is no good any more (a new server secret): start afresh.
              this._session = null;
              this._lost(conn, { reason: error.message });
            } else {
              this._lost(conn, { reason: error.message, error: error, fatal: error.code === FORBIDDEN });
            }
          });
        }, (error) => this._lost(conn, { reason: "token: " + error, fatal: true }));
    }

    _connected(conn, result) {
      if (conn !== this._conn) return;
      this._session = result.session;
      this.client = result.client;
      this.user = result.user === undefined ? null : result.user;
      this.info = result.info === undefined ? null : result.info;
      if (result.hb !== undefined) this._hb = result.hb;
      if (result.poll !== undefined) this._poll = result.poll;
      const personal = result.personal;
      if (personal && (!this._personalSub || this._personalSub.channel !== personal.ch)) {
        this._personalSub = new Subscription(this, personal.ch, {}, true);
        this._personalSub._pos = { e: personal.e, o: personal.o };
        this._personalSub.state = "subscribed";
      }
      conn.ready = true;
      // Subscribe again to everything, each from its position, before the
      // calls queued meanwhile.
      const subs = Array.from(this._subs.values());
      if (!conn.http && this._personalSub) subs.unshift(this._personalSub);
      const answered = Promise.all(subs.reverse().map((sub) => sub._subscribe(true)));
      if (!conn.http) {
        this._live(conn);
        this._startPing(conn);
      } else {
        answered.then(() => {
          if (conn !== this._conn) return;
          if (conn.name === "polling") this._live(conn);
          else this._startWatchdog(conn);
          conn.openDownstream();
        });
      }
      this._flush();
    }

    _live(conn) {
      if (conn !== this._conn || conn.live) return;
      clearTimeout(this._timers.connect);
      conn.live = true;
      this._attempt = 0;
      this.transport = conn.name;
      this.state = "connected";
      callback(this, "onconnect", { client: this.client, transport: conn.name });
      this._flush();
    }

    _lost(conn, why) {
      if (conn !== this._conn) return;
      this._conn = null;
      conn.stop();
      this._stopTimers();
      clearTimeout(this._timers.connect);
      this._posting = false;
      this.transport = null;
      if (why.status === 403 && conn.ready) this._session = null;
      for (const [id, call] of this._calls) {
        if (call.sent !== conn) continue;
        this._calls.delete(id);
        clearTimeout(call.timer);
        call.reject(connectionLost());
      }
      const wasLive = conn.live;
      if (wasLive) {
        this.state = "disconnected";
        callback(this, "ondisconnect", { reason: why.reason, code: why.code });
      }
      if (why.fatal) {
        const error = why.error || new HubError(why.reason || "forbidden", FORBIDDEN);
        this.close();
        this._error(error);
        return;
      }
      if (this.state === "closed") return;
      this._retry(conn);
    }

    _retry(conn) {
      const transports = this._options.transports;
      let delay = 0;
      if (!conn.live) {
        // This transport does not work here: the next one at once; back off
        // only once each has failed.
        this._index++;
        if (this._index % transports.length === 0) this._attempt++;
        else delay = -1;
      } else {
        this._attempt++;
      }
      if (delay !== -1) {
        const base = Math.min(this._options.maxReconnectDelay,
          this._options.minReconnectDelay * Math.pow(2, Math.max(0, this._attempt - 1)));
        delay = base * (1 - JITTER * Math.random());
      } else {
        delay = 0;
      }
      this._timers.reconnect = setTimeout(() => {
        this._timers.reconnect = null;
        this._connect();
      }, delay);
    }

    _error(error) {
      callback(this, "onerror", error);
    }

    // Liveness.

    _startPing(conn) {
      const hb = this._hb;
      if (!hb) return;
      this._timers.ping = setInterval(() => {
        if (conn !== this._conn) return;
        this._call("ping", undefined, { internal: true, timeout: hb }).catch((error) => {
          if (conn === this._conn && error.name === "TimeoutError") this._lost(conn, { reason: "no pong" });
        });
      }, hb);
    }

    _startWatchdog(conn) {
      clearInterval(this._timers.watchdog);
      this._lastSeen = Date.now();
      this._timers.watchdog = setInterval(() => {
        if (conn !== this._conn || !this._hb) return;
        if (Date.now() - this._lastSeen > 2 * this._hb + 1000) this._lost(conn, { reason: "silent downstream" });
      }, Math.max(50, Math.min(1000, this._hb / 4)));
    }

    _stopTimers() {
      clearInterval(this._timers.ping);
      clearInterval(this._timers.watchdog);
    }

    // Downstream.

    /** The `ch=OFFSET.EPOCH.NAME` list of the HTTP downstreams, as a query string. */
    _listed() {
      const query = new URLSearchParams();
      if (this._personalSub) query.append("ch", this._position(this._personalSub));
      for (const sub of this._subs.values()) {
        if (!sub._pos) continue;
        query.append("ch", this._position(sub));
        // A server-side subscription: the grant lets each request read the channel.
        if (sub._grant) query.append("g", sub._grant);
      }
      return query.toString();
    }

    _position(sub) { return sub._pos.o + "." + sub._pos.e + "." + sub.channel; }

    _downstreamUrl(path) {
      const list = this._listed();
      return this.url + "/" + path + "?s=" + encodeURIComponent(this._session) + (list ? "&" + list : "");
    }

    /** The set of channels changed: an HTTP downstream reopens with the new list. */
    _channelsChanged() {
      const conn = this._conn;
      if (!conn || !conn.http || this._timers.reopen) return;
      this._timers.reopen = setTimeout(() => {
        this._timers.reopen = null;
        // Not opened yet (still subscribing after connect): it opens with the list.
        if (this._conn !== conn || !conn.generation) return;
        const names = (list) => new URLSearchParams(list).getAll("ch")
          .map((c) => c.split(".").slice(2).join(".")).sort().join("\n");
        if (names(conn.listed) !== names(this._listed())) conn.openDownstream();
      }, 0);
    }

    _received(conn, text) {
      if (conn !== this._conn) return;
      this._lastSeen = Date.now();
      let message;
      try {
        message = JSON.parse(text);
      } catch (error) {
        this._lost(conn, { reason: "malformed message" });
        return;
      }
      this._handle(conn, message);
    }

    _handle(conn, message) {
      if (Array.isArray(message)) {
        for (const one of message) {
          if (conn !== this._conn) return;
          this._handle(conn, one);
        }
        return;
      }
      if (!message || typeof message !== "object") return;
      if (typeof message.method === "string") {
        if (message.id !== undefined && message.id !== null) this._serverCall(message);
        else this._notification(conn, message.method, message.params || {});
        return;
      }
      const call = this._calls.get(message.id);
      if (!call) return;
      this._calls.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) call.reject(fromRpcError(message.error));
      else call.resolve(message.result);
    }

    _notification(conn, method, params) {
      const sub = this._subFor(params.ch);
      switch (method) {
        case "pub":
          if (sub) sub._take({ e: params.e, o: params.o, d: params.d });
          break;
        case "join":
        case "leave":
          if (sub && !sub._personal) {
            callback(sub, "on" + method, { client: params.client, user: params.user, info: params.info });
          }
          break;
        case "reset":
          if (sub) sub._reset(params);
          break;
        case "unsubscribed":
          if (sub && !sub._personal) {
            sub._end();
            callback(sub, "onunsubscribed", { reason: params.reason });
            this._channelsChanged();
          }
          break;
        case "open":
          if (params.hb !== undefined) this._hb = params.hb;
          if (conn.http && conn.name !== "polling") this._live(conn);
          break;
        default: // hb: proof of life, counted on arrival
      }
    }

    _subFor(channel) {
      if (this._personalSub && channel === this._personalSub.channel) return this._personalSub;
      return this._subs.get(channel);
    }

    // The personal channel: direct messages, server-side subscriptions, calls.

    _personal(data) {
      const messages = Array.isArray(data) ? data : [data];
      for (const message of messages) {
        if (!message || typeof message !== "object") continue;
        const params = message.params;
        if (message.id !== undefined && message.id !== null) {
          this._serverCall(message);
        } else if (message.method === "message") {
          // params: {"data": data} (JSON-RPC params are an object or an array).
          callback(this, "onmessage", params && typeof params === "object" && "data" in params ? params.data : params);
        } else if (message.method === "subscribe" && params) {
          this._serverSubscribe(params.ch, params.grant);
        } else if (message.method === "unsubscribe" && params) {
          const sub = this._subs.get(params.ch);
          if (sub) {
            sub.unsubscribe();
            callback(sub, "onunsubscribed", { reason: "unsubscribed by the server" });
          }
        }
      }
    }

    _serverSubscribe(channel, grant) {
      let sub = this._subs.get(channel);
      if (sub) {
        sub._grant = grant;
        return;
      }
      sub = new Subscription(this, channel, {}, false);
      sub._grant = grant;
      this._subs.set(channel, sub);
      callback(this, "onsubscribe", sub); // the application attaches its handlers
      if (!sub._closed && this._ready()) sub._subscribe(false);
    }

    _serverCall(message) {
      const methods = this._options.methods || {};
      const fn = Object.prototype.hasOwnProperty.call(methods, message.method) ? methods[message.method] : null;
      const answer = (body) => {
        this._queue.push(Object.assign({ jsonrpc: "2.0", id: message.id }, body));
        this._scheduleFlush();
      };
      if (typeof fn !== "function") {
        answer({ error: { code: METHOD_NOT_FOUND, message: "method not found: " + message.method } });
        return;
      }
      const params = message.params;
      new Promise((resolve) => {
        if (Array.isArray(params)) resolve(fn.apply(this, params));
        else if (params === undefined) resolve(fn.call(this));
        else resolve(fn.call(this, params));
      }).then((result) => {
        answer({ result: result === undefined ? null : result });
      }, (error) => {
        // A thrown {code, message, data} is the error to answer; anything else is -32603.
        if (error && typeof error.code === "number" && typeof error.message === "string") {
          const body = { code: error.code, message: error.message };
          if (error.data !== undefined) body.data = error.data;
          answer({ error: body });
        } else {
          answer({ error: { code: INTERNAL_ERROR, message: String((error && error.message) || error) } });
        }
      });
    }
  }

  LongwireHub.TRANSPORTS = TRANSPORTS.slice();
  LongwireHub.HubError = HubError;

  const namespace = root.Longwire || (root.Longwire = {});
  namespace.LongwireHub = LongwireHub;
  namespace.HubError = HubError;
  root.LongwireHub = LongwireHub;
})(typeof globalThis !== "undefined" ? globalThis : this);
