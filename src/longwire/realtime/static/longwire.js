/*
 * longwire.js: the browser client of longwire.realtime sessions.
 *
 * One logical connection, WebSocket-shaped, over whichever transport works:
 * WebSocket, then Server-Sent Events (+ POST upstream), then HTTP streaming,
 * then long polling. Messages are numbered both ways and acknowledged, so
 * they arrive exactly once and in order across reconnects.
 *
 * A classic script: <script src="/rt/longwire.js"> defines globalThis.Longwire
 * ({LongwireSocket, TRANSPORTS}) and globalThis.LongwireSocket. The server
 * also serves /rt/longwire.mjs, this file plus `export`s, for `import`.
 * No dependencies.
 */
(function (root) {
  "use strict";

  var CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
  var TRANSPORTS = ["websocket", "sse", "streaming", "polling"];
  var MAX_BATCH = 500; // frames per upstream POST
  var ACK_EVERY = 64; // acknowledge at least every so many messages received

  function b64encode(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  function b64decode(text) {
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function merge(defaults, given) {
    var out = {};
    for (var key in defaults) out[key] = defaults[key];
    for (var name in given || {}) if (given[name] !== undefined) out[name] = given[name];
    return out;
  }

  // Transports. Each has start() and stop(); it reports to the socket through
  // sock._packet(conn, text), sock._established(conn, openFrame) and
  // sock._lost(conn, status). Upstream: WebSocket sends on itself (send), the
  // HTTP transports through the socket's POST loop.

  function WebSocketConn(sock) {
    this.sock = sock;
    this.name = "websocket";
    this.http = false;
    this.ws = null;
  }
  WebSocketConn.prototype.start = function () {
    var sock = this.sock, self = this;
    var url = new URL(sock.url + "/websocket");
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    var ws = this.ws = new WebSocket(url.href);
    ws.onopen = function () {
      ws.send(JSON.stringify([{ t: "hello", sid: sock.id, ack: sock._inLast }]));
    };
    ws.onmessage = function (event) { sock._packet(self, event.data); };
    ws.onerror = function () {};
    ws.onclose = function (event) { sock._lost(self, event.code === 4004 ? 404 : 0); };
  };
  WebSocketConn.prototype.send = function (frames) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frames));
  };
  WebSocketConn.prototype.stop = function () {
    var ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState <= 1) ws.close();
    this.ws = null;
  };

  function SseConn(sock) {
    this.sock = sock;
    this.name = "sse";
    this.http = true;
    this.source = null;
  }
  SseConn.prototype.start = function () {
    var sock = this.sock, self = this;
    sock._ensureSession(this).then(function () {
      if (sock._conn !== self) return;
      var source = self.source = new EventSource(sock._path("sse?ack=" + sock._inLast),
        { withCredentials: sock._options.withCredentials });
      source.onmessage = function (event) { sock._packet(self, event.data); };
      source.onerror = function () { sock._lost(self, 0); };
    }, function (error) { sock._lost(self, error.status || 0); });
  };
  SseConn.prototype.stop = function () {
    if (this.source) this.source.close();
    this.source = null;
  };

  function StreamConn(sock) {
    this.sock = sock;
    this.name = "streaming";
    this.http = true;
    this.abort = new AbortController();
  }
  StreamConn.prototype.start = function () {
    var sock = this.sock, self = this;
    sock._ensureSession(this).then(function () {
      if (sock._conn !== self) return undefined;
      return fetch(sock._path("stream?ack=" + sock._inLast), {
        credentials: sock._credentials(), cache: "no-store", signal: self.abort.signal,
      }).then(function (response) {
        if (!response.ok || !response.body) throw { status: response.status };
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffered = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) throw { status: 0 };
            buffered += decoder.decode(chunk.value, { stream: true });
            var lines = buffered.split("\n");
            buffered = lines.pop();
            for (var i = 0; i < lines.length; i++) {
              if (lines[i]) sock._packet(self, lines[i]);
            }
            return pump();
          });
        }
        return pump();
      });
    }).catch(function (error) { sock._lost(self, (error && error.status) || 0); });
  };
  StreamConn.prototype.stop = function () { this.abort.abort(); };

  function PollConn(sock) {
    this.sock = sock;
    this.name = "polling";
    this.http = true;
    this.abort = new AbortController();
    this.stopped = false;
  }
  PollConn.prototype.start = function () {
    var sock = this.sock, self = this;
    function poll() {
      if (self.stopped || sock._conn !== self) return undefined;
      sock._lastSeen = Date.now();
      return fetch(sock._path("poll?ack=" + sock._inLast), {
        credentials: sock._credentials(), cache: "no-store", signal: self.abort.signal,
      }).then(function (response) {
        if (!response.ok) throw { status: response.status };
        return response.text();
      }).then(function (text) {
        sock._packet(self, text);
        return poll();
      });
    }
    sock._ensureSession(this).then(function () {
      if (sock._conn !== self) return undefined;
      sock._established(self, {});
      return poll();
    }).catch(function (error) { sock._lost(self, (error && error.status) || 0); });
  };
  PollConn.prototype.stop = function () { this.stopped = true; this.abort.abort(); };

  var CONNS = { websocket: WebSocketConn, sse: SseConn, streaming: StreamConn, polling: PollConn };

  /**
   * A session with a longwire.realtime server, shaped like a WebSocket.
   * `url` is the prefix the server's Sessions are mounted at ("/rt" or
   * "https://example.com/rt").
   */
  function LongwireSocket(url, options) {
    var target = new EventTarget();
    // Subclassing EventTarget without `class`: borrow a real one's methods.
    this._target = target;
    options = options || {};
    this.url = new URL(url, root.location ? root.location.href : undefined).href.replace(/\/+$/, "");
    this._options = merge({
      transports: TRANSPORTS.slice(),
      heartbeat: 15000,
      connectTimeout: 5000,
      closeTimeout: 3000,
      withCredentials: false,
    }, options);
    this._reconnect = merge({
      enabled: true, minDelay: 250, maxDelay: 10000, factor: 2, jitter: 0.5, maxAttempts: Infinity,
    }, options.reconnect);
    var unknown = this._options.transports.filter(function (t) { return !CONNS[t]; });
    if (unknown.length || !this._options.transports.length) {
      throw new TypeError("unknown transports: " + unknown.join(", "));
    }
    this.readyState = CONNECTING;
    this.transport = null;
    this.binaryType = "blob";
    this.id = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._outSeq = 0; // last upstream frame number given
    this._acked = 0; // last upstream frame number the server acknowledged
    this._sentSeq = 0; // last upstream frame number sent on the current connection
    this._unacked = []; // upstream frames kept until acknowledged
    this._bytes = 0;
    this._inLast = 0; // last downstream frame number taken in order
    this._ackSent = 0;
    this._pingDue = false;
    this._serverHeartbeat = 15000;
    this._pollTimeout = 25000;
    this._postAgain = false;
    this._index = 0;
    this._attempt = 0;
    this._conn = null;
    this._posting = false;
    this._chain = null; // pending Blob reads, which keep their place in the order
    this._timers = {};
    this._lastSeen = 0;
    var self = this;
    setTimeout(function () { self._connect(); }, 0);
  }

  LongwireSocket.CONNECTING = LongwireSocket.prototype.CONNECTING = CONNECTING;
  LongwireSocket.OPEN = LongwireSocket.prototype.OPEN = OPEN;
  LongwireSocket.CLOSING = LongwireSocket.prototype.CLOSING = CLOSING;
  LongwireSocket.CLOSED = LongwireSocket.prototype.CLOSED = CLOSED;

  var proto = LongwireSocket.prototype;

  proto.addEventListener = function (type, listener, options) {
    this._target.addEventListener(type, listener, options);
  };
  proto.removeEventListener = function (type, listener, options) {
    this._target.removeEventListener(type, listener, options);
  };
  proto.dispatchEvent = function (event) { return this._target.dispatchEvent(event); };

  Object.defineProperty(proto, "bufferedAmount", {
    /** Bytes of messages sent but not yet acknowledged by the server. */
    get: function () { return this._bytes; },
  });

  proto._emit = function (event) {
    var handler = this["on" + event.type];
    if (typeof handler === "function") {
      try { handler.call(this, event); } catch (error) { setTimeout(function () { throw error; }); }
    }
    this._target.dispatchEvent(event);
  };

  /** Send a message: a string as text; an ArrayBuffer, typed array or Blob as binary. */
  proto.send = function (data) {
    if (this.readyState >= CLOSING) return;
    var self = this;
    if (typeof Blob !== "undefined" && data instanceof Blob) {
      var read = data.arrayBuffer();
      var previous = this._chain || Promise.resolve();
      var chain = this._chain = previous.then(function () { return read; }).then(function (buffer) {
        self._queueBinary(new Uint8Array(buffer));
        if (self._chain === chain) self._chain = null;
      });
      return;
    }
    if (this._chain) {
      var prior = this._chain;
      var next = this._chain = prior.then(function () {
        self._queueData(data);
        if (self._chain === next) self._chain = null;
      });
      return;
    }
    this._queueData(data);
  };

  proto._queueData = function (data) {
    if (typeof data === "string") {
      this._queue({ t: "msg", d: data }, data.length);
    } else if (data instanceof ArrayBuffer) {
      this._queueBinary(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      this._queueBinary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else {
      this._queue({ t: "msg", d: String(data) }, String(data).length);
    }
  };

  proto._queueBinary = function (bytes) {
    if (this.readyState >= CLOSING) return;
    this._queue({ t: "msg", d: b64encode(bytes), b: 1 }, bytes.length);
  };

  proto._queue = function (frame, size) {
    frame.s = ++this._outSeq;
    frame._size = size;
    this._unacked.push(frame);
    this._bytes += size;
    this._scheduleFlush();
  };

  /** Close the session (code 1000 or 3000-4999); the server answers with its close. */
  proto.close = function (code, reason) {
    if (code === undefined) code = 1000;
    if (reason === undefined) reason = "";
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException("close code must be 1000 or 3000-4999", "InvalidAccessError");
    }
    if (this.readyState >= CLOSING) return;
    var self = this;
    var wasConnecting = this.readyState === CONNECTING && !this.id;
    this.readyState = CLOSING;
    if (wasConnecting) {
      this._finish(code, reason, false);
      return;
    }
    var frame = { t: "close", code: code, reason: String(reason), s: ++this._outSeq, _size: 0 };
    var queue = function () { self._unacked.push(frame); self._scheduleFlush(); };
    if (this._chain) this._chain.then(queue); else queue();
    this._timers.close = setTimeout(function () {
      self._finish(code, reason, false);
    }, this._options.closeTimeout);
  };

  // Connecting, fallback and reconnecting.

  proto._path = function (tail) { return this.url + "/" + encodeURIComponent(this.id) + "/" + tail; };

  proto._credentials = function () { return this._options.withCredentials ? "include" : "same-origin"; };

  proto._post = function (url, body) {
    var options = {
      method: "POST", body: body, credentials: this._credentials(), cache: "no-store",
      headers: { "Content-Type": "text/plain;charset=UTF-8" }, // no CORS preflight
    };
    // The server answers a POST at once: one unanswered for as long as the
    // WebSocket's silence bound went to a dead connection (a kept-alive socket
    // the network silently lost), and would otherwise hang the upstream forever.
    var abort = typeof AbortController !== "undefined" ? new AbortController() : null;
    var timer = null;
    if (abort) {
      options.signal = abort.signal;
      timer = setTimeout(function () { abort.abort(); }, 2 * this._options.heartbeat + 1000);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        clearTimeout(timer);
        return {
          ok: response.ok, status: response.status,
          text: function () { return text; },
          json: function () { return JSON.parse(text); },
        };
      });
    }, function (error) { clearTimeout(timer); throw error; });
  };

  proto._ensureSession = function (conn) {
    if (this.id) return Promise.resolve();
    var self = this;
    return this._post(this.url + "/open", "").then(function (response) {
      if (!response.ok) throw { status: response.status === 404 ? -1 : response.status };
      return response.json();
    }).then(function (open) {
      if (self._conn !== conn) throw { status: 0 };
      self.id = open.sid;
      self._serverHeartbeat = open.hb || self._serverHeartbeat;
      self._pollTimeout = open.poll || self._pollTimeout;
    });
  };

  proto._connect = function () {
    if (this.readyState >= CLOSING) return;
    var transports = this._options.transports;
    var name = transports[this._index % transports.length];
    var conn = this._conn = new CONNS[name](this);
    conn.established = false;
    var self = this;
    this._timers.connect = setTimeout(function () {
      if (self._conn === conn && !conn.established) self._lost(conn, 0);
    }, this._options.connectTimeout);
    try {
      conn.start();
    } catch (error) {
      setTimeout(function () { self._lost(conn, 0); }, 0);
    }
  };

  proto._established = function (conn, open) {
    if (conn !== this._conn || conn.established) return;
    clearTimeout(this._timers.connect);
    conn.established = true;
    this._attempt = 0;
    this.transport = conn.name;
    if (open.sid) this.id = open.sid;
    if (open.hb) this._serverHeartbeat = open.hb;
    if (open.poll) this._pollTimeout = open.poll;
    if (typeof open.ack === "number") this._ackUp(open.ack);
    // Send again whatever the server has not acknowledged; it drops duplicates.
    this._sentSeq = this._acked;
    this._ackSent = 0;
    this._lastSeen = Date.now();
    this._startTimers(conn);
    if (this.readyState === CONNECTING) {
      this.readyState = OPEN;
      this._emit(new Event("open"));
    }
    this._flush();
  };

  proto._lost = function (conn, status) {
    if (conn !== this._conn) return;
    var self = this;
    if (status === 404) { this._drop(conn); this._finish(4004, "session unknown", false); return; }
    if (conn.http && this.id && status === 0) {
      // EventSource and network errors hide the status: ask whether the session is still there.
      this._drop(conn);
      this._conn = conn; // still ours until the probe answers
      this._post(this._path("send"), "[]").then(function (response) {
        if (self._conn !== conn) return;
        self._conn = null;
        if (response.status === 404) self._finish(4004, "session unknown", false);
        else self._retry(conn);
      }, function () {
        if (self._conn !== conn) return;
        self._conn = null;
        self._retry(conn);
      });
      return;
    }
    this._drop(conn);
    this._retry(conn);
  };

  proto._drop = function (conn) {
    conn.dead = true;
    conn.stop();
    this._stopTimers();
    this._posting = false;
    this.transport = null;
    if (this._conn === conn) this._conn = null;
  };

  proto._retry = function (conn) {
    if (this.readyState === CLOSED) return;
    if (this.readyState === CLOSING) { this._finish(1006, "connection lost while closing", false); return; }
    var reconnect = this._reconnect;
    var transports = this._options.transports;
    var delay = 0;
    if (!conn.established) {
      // This transport does not work here: fall back to the next one at once,
      // and back off only once every one has failed.
      this._index++;
      if (this._index % transports.length === 0) this._attempt++;
      else delay = -1;
    } else {
      this._attempt++;
    }
    if (!reconnect.enabled || this._attempt > reconnect.maxAttempts) {
      this._finish(1006, "connection lost", false);
      return;
    }
    if (delay !== -1) {
      var base = Math.min(reconnect.maxDelay,
        reconnect.minDelay * Math.pow(reconnect.factor, Math.max(0, this._attempt - 1)));
      delay = base * (1 - reconnect.jitter * Math.random());
    } else {
      delay = 0;
    }
    var self = this;
    this._timers.reconnect = setTimeout(function () { self._connect(); }, delay);
  };

  proto._finish = function (code, reason, wasClean) {
    if (this.readyState === CLOSED) return;
    var conn = this._conn;
    if (conn) this._drop(conn);
    this._stopTimers();
    clearTimeout(this._timers.close);
    clearTimeout(this._timers.reconnect);
    clearTimeout(this._timers.connect);
    this.readyState = CLOSED;
    this.transport = null;
    if (!wasClean) this._emit(new Event("error"));
    this._emit(new CloseEvent("close", { code: code, reason: reason, wasClean: wasClean }));
  };

  // Heartbeat and dead-connection detection.

  proto._startTimers = function (conn) {
    var self = this;
    var heartbeat = this._options.heartbeat;
    this._timers.ping = setInterval(function () {
      self._pingDue = true;
      self._flush();
    }, heartbeat);
    var silence;
    if (conn.name === "websocket") silence = 2 * heartbeat + 1000;
    else if (conn.name === "polling") silence = this._pollTimeout + heartbeat + 1000;
    else silence = 2 * Math.max(heartbeat, this._serverHeartbeat) + 1000;
    this._timers.watchdog = setInterval(function () {
      if (self._conn === conn && Date.now() - self._lastSeen > silence) self._lost(conn, -2);
    }, Math.max(50, Math.min(heartbeat, silence) / 4));
  };

  proto._stopTimers = function () {
    clearInterval(this._timers.ping);
    clearInterval(this._timers.watchdog);
    clearTimeout(this._timers.flush);
    clearTimeout(this._timers.ack);
    this._timers.flush = this._timers.ack = null;
  };

  // Frames in.

  proto._packet = function (conn, text) {
    if (conn !== this._conn) return;
    this._lastSeen = Date.now();
    var frames;
    try {
      frames = JSON.parse(text);
    } catch (error) {
      this._lost(conn, 0);
      return;
    }
    var received = 0;
    for (var i = 0; i < frames.length; i++) {
      var frame = frames[i];
      if (this.readyState === CLOSED) return;
      switch (frame.t) {
        case "open":
          this._established(conn, frame);
          break;
        case "ack":
          this._ackUp(frame.a);
          break;
        case "msg":
          if (frame.s !== this._inLast + 1) break; // a duplicate (resent) or out of order
          this._inLast = frame.s;
          received++;
          this._deliver(frame);
          break;
        case "close":
          if (frame.s !== this._inLast + 1) break;
          this._inLast = frame.s;
          this._sendAck();
          this._finish(frame.code, frame.reason || "", true);
          return;
        default: // pong, hb: proof of life, counted above
      }
    }
    if (received) this._scheduleAck();
  };

  proto._deliver = function (frame) {
    var data = frame.d;
    if (frame.b) {
      var bytes = b64decode(data);
      data = this.binaryType === "arraybuffer" ? bytes.buffer : new Blob([bytes]);
    }
    this._emit(new MessageEvent("message", { data: data, origin: new URL(this.url).origin }));
  };

  proto._ackUp = function (seq) {
    if (seq <= this._acked) return;
    this._acked = seq;
    var unacked = this._unacked;
    var drop = 0;
    while (drop < unacked.length && unacked[drop].s <= seq) {
      this._bytes -= unacked[drop]._size;
      drop++;
    }
    if (drop) unacked.splice(0, drop);
    if (this._sentSeq < seq) this._sentSeq = seq;
  };

  proto._scheduleAck = function () {
    var conn = this._conn;
    if (!conn || conn.name === "polling") return; // each poll carries the ack
    if (this._inLast - this._ackSent >= ACK_EVERY) { this._flush(); return; }
    var self = this;
    if (!this._timers.ack) {
      this._timers.ack = setTimeout(function () { self._timers.ack = null; self._flush(); }, 50);
    }
  };

  proto._sendAck = function () {
    // The close frame's ack, best effort: the session then ends at once on the server.
    var ack = [{ t: "ack", a: this._inLast }];
    var conn = this._conn;
    if (conn && !conn.http) conn.send(ack);
    else if (this.id) this._post(this._path("send"), JSON.stringify(ack)).catch(function () {});
  };

  // Frames out.

  proto._scheduleFlush = function () {
    if (this._timers.flush) return;
    var self = this;
    this._timers.flush = setTimeout(function () { self._timers.flush = null; self._flush(); }, 0);
  };

  proto._outgoing = function () {
    var frames = [];
    var conn = this._conn;
    if (conn.name !== "polling" && this._inLast > this._ackSent) {
      frames.push({ t: "ack", a: this._inLast });
      this._ackSent = this._inLast;
    }
    if (this._pingDue) {
      frames.push({ t: "ping" });
      this._pingDue = false;
    }
    var unacked = this._unacked;
    for (var i = 0; i < unacked.length && frames.length < MAX_BATCH; i++) {
      var frame = unacked[i];
      if (frame.s <= this._sentSeq) continue;
      var copy = { t: frame.t, s: frame.s };
      if (frame.t === "msg") { copy.d = frame.d; if (frame.b) copy.b = 1; }
      else { copy.code = frame.code; copy.reason = frame.reason; }
      frames.push(copy);
      this._sentSeq = frame.s;
    }
    return frames;
  };

  proto._flush = function () {
    var conn = this._conn;
    if (!conn || !conn.established || conn.dead) return;
    if (!conn.http) {
      var frames = this._outgoing();
      if (frames.length) conn.send(frames);
      return;
    }
    if (this._posting) { this._postAgain = true; return; }
    var batch = this._outgoing();
    if (!batch.length) return;
    this._posting = true;
    this._postAgain = false;
    var self = this;
    this._post(this._path("send"), JSON.stringify(batch)).then(function (response) {
      if (!response.ok) throw { status: response.status };
      return response.text();
    }).then(function (text) {
      if (self._conn !== conn) return;
      self._posting = false;
      var frames = JSON.parse(text);
      for (var i = 0; i < frames.length; i++) if (frames[i].t === "ack") self._ackUp(frames[i].a);
      var more = self._unacked.length && self._unacked[self._unacked.length - 1].s > self._sentSeq;
      if (self._postAgain || more || self._pingDue) self._flush();
    }).catch(function (error) {
      if (self._conn !== conn) return;
      self._posting = false;
      self._lost(conn, (error && error.status) || 0);
    });
  };

  var Longwire = { LongwireSocket: LongwireSocket, TRANSPORTS: TRANSPORTS.slice() };
  root.Longwire = Longwire;
  root.LongwireSocket = LongwireSocket;
})(typeof globalThis !== "undefined" ? globalThis : this);
