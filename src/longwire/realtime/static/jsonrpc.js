/*
 * jsonrpc.js: a JSON-RPC 2.0 peer for browsers, the twin of longwire.jsonrpc.Peer.
 *
 * Both ends may call: `call` and `notify` the server's methods, and the
 * server's requests are answered from `methods`. It works over any object
 * with send(string) and either addEventListener("message", ...) or onmessage
 * (a WebSocket, a longwire.js socket): event.data is one JSON-RPC message.
 *
 *   var ws = new WebSocket("wss://example.com/rpc", "jsonrpc");
 *   var rpc = new Longwire.JsonRpc(ws, {
 *     methods: {"client.add": function (a, b) { return a + b; }},
 *     timeout: 30000,
 *   });
 *   rpc.call("add", [1, 2]).then(function (sum) { ... });
 *
 * A classic script: it defines globalThis.Longwire.JsonRpc and
 * Longwire.RPCError (creating globalThis.Longwire if absent), so it can be
 * served alone or after longwire.js. No dependencies.
 */
(function (root) {
  "use strict";

  var Longwire = root.Longwire = root.Longwire || {};

  // Specification §5.1: the pre-defined error codes.
  var PARSE_ERROR = -32700, INVALID_REQUEST = -32600, METHOD_NOT_FOUND = -32601,
    INVALID_PARAMS = -32602, INTERNAL_ERROR = -32603, OVERLOADED = -32000;
  var MESSAGES = {};
  MESSAGES[PARSE_ERROR] = "Parse error";
  MESSAGES[INVALID_REQUEST] = "Invalid Request";
  MESSAGES[METHOD_NOT_FOUND] = "Method not found";
  MESSAGES[INVALID_PARAMS] = "Invalid params";
  MESSAGES[INTERNAL_ERROR] = "Internal error";
  MESSAGES[OVERLOADED] = "Overloaded";
  var CONNECTING = 0, OPEN = 1;

  // An error object (§5.1) as an Error: what a rejected call() gives, and what
  // a method may throw (so may any object with a numeric code and a string message).
  function RPCError(code, message, data) {
    var error = new Error(message === undefined ? MESSAGES[code] || "Server error" : message);
    Object.setPrototypeOf(error, RPCError.prototype);
    error.name = "RPCError";
    error.code = code;
    if (data !== undefined) error.data = data;
    return error;
  }
  RPCError.prototype = Object.create(Error.prototype, {
    constructor: {value: RPCError, writable: true, configurable: true},
  });
  RPCError.PARSE_ERROR = PARSE_ERROR;
  RPCError.INVALID_REQUEST = INVALID_REQUEST;
  RPCError.METHOD_NOT_FOUND = METHOD_NOT_FOUND;
  RPCError.INVALID_PARAMS = INVALID_PARAMS;
  RPCError.INTERNAL_ERROR = INTERNAL_ERROR;
  RPCError.OVERLOADED = OVERLOADED;

  function closedError(reason) {
    var error = new Error("JSON-RPC connection closed" + (reason ? ": " + reason : ""));
    error.name = "ConnectionClosed";
    return error;
  }

  function isId(value) {
    // §4: "a String, Number, or NULL value".
    return value === null || typeof value === "string" || typeof value === "number";
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function has(obj, name) {
    return Object.prototype.hasOwnProperty.call(obj, name);
  }

  function errorMessage(id, code, message, data) {
    var error = {code: code, message: message === undefined ? MESSAGES[code] : message};
    if (data !== undefined) error.data = data;
    return {jsonrpc: "2.0", error: error, id: id === undefined ? null : id};
  }

  function JsonRpc(socket, options) {
    if (!(this instanceof JsonRpc)) return new JsonRpc(socket, options);
    options = options || {};
    this.socket = socket;
    this.methods = options.methods || {};
    // Milliseconds a call waits for its answer; 0 or null: forever.
    this.timeout = options.timeout === undefined ? 30000 : options.timeout;
    this.maxBatch = options.maxBatch === undefined ? 100 : options.maxBatch;
    this.onerror = options.onerror || null; // (error, method): a method threw
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, timer}
    this._queue = []; // messages sent while the socket is connecting
    this._closed = null;
    var self = this;
    this._onmessage = function (event) { self.receive(event.data); };
    this._onopen = function () { self._flush(); };
    this._onclose = function (event) {
      self.close(event && event.code ? event.code + (event.reason ? " " + event.reason : "") : "");
    };
    this._detach = this._attach(socket);
  }

  JsonRpc.PARSE_ERROR = PARSE_ERROR;
  JsonRpc.INVALID_REQUEST = INVALID_REQUEST;
  JsonRpc.METHOD_NOT_FOUND = METHOD_NOT_FOUND;
  JsonRpc.INVALID_PARAMS = INVALID_PARAMS;
  JsonRpc.INTERNAL_ERROR = INTERNAL_ERROR;

  JsonRpc.prototype._attach = function (socket) {
    var self = this;
    if (typeof socket.addEventListener === "function") {
      socket.addEventListener("message", this._onmessage);
      socket.addEventListener("open", this._onopen);
      socket.addEventListener("close", this._onclose);
      return function () {
        socket.removeEventListener("message", self._onmessage);
        socket.removeEventListener("open", self._onopen);
        socket.removeEventListener("close", self._onclose);
      };
    }
    // onmessage only: chain to the handlers already set.
    var previous = {message: socket.onmessage, open: socket.onopen, close: socket.onclose};
    function chain(name, ours) {
      var before = previous[name];
      socket["on" + name] = function (event) {
        if (before) before.call(socket, event);
        ours(event);
      };
    }
    chain("message", this._onmessage);
    chain("open", this._onopen);
    chain("close", this._onclose);
    return function () {
      socket.onmessage = previous.message;
      socket.onopen = previous.open;
      socket.onclose = previous.close;
    };
  };

  // Sending

  JsonRpc.prototype._send = function (text) {
    if (this._closed !== null) throw closedError(this._closed);
    var state = this.socket.readyState;
    if (state === CONNECTING) {
      this._queue.push(text);
    } else if (state === undefined || state === OPEN) {
      this.socket.send(text);
    } else {
      throw closedError("the socket is closing");
    }
  };

  JsonRpc.prototype._flush = function () {
    var queue = this._queue;
    this._queue = [];
    for (var i = 0; i < queue.length; i++) this.socket.send(queue[i]);
  };

  function checkParams(params) {
    if (params !== undefined && params !== null && typeof params !== "object") {
      throw new TypeError("params must be an array, an object or undefined");
    }
  }

  // Call `method` on the other end: a Promise of its result, rejected with an
  // RPCError (an error answer), a TimeoutError, or a ConnectionClosed error.
  // options.timeout (milliseconds) overrides the peer's.
  JsonRpc.prototype.call = function (method, params, options) {
    var self = this;
    return new Promise(function (resolve, reject) {
      checkParams(params);
      var id = self._nextId++;
      var message = {jsonrpc: "2.0", method: method};
      if (params !== undefined && params !== null) message.params = params;
      message.id = id;
      var text = JSON.stringify(message);
      var timeout = options && options.timeout !== undefined ? options.timeout : self.timeout;
      var entry = {resolve: resolve, reject: reject, timer: null};
      if (timeout) {
        entry.timer = setTimeout(function () {
          self._pending.delete(id);
          var error = new Error("no response to " + JSON.stringify(method) + " within " +
                                timeout + " ms");
          error.name = "TimeoutError";
          reject(error);
        }, timeout);
      }
      self._pending.set(id, entry);
      try {
        self._send(text);
      } catch (error) {
        self._settle(id);
        reject(error);
      }
    });
  };

  // Send a notification: no answer comes back.
  JsonRpc.prototype.notify = function (method, params) {
    checkParams(params);
    var message = {jsonrpc: "2.0", method: method};
    if (params !== undefined && params !== null) message.params = params;
    this._send(JSON.stringify(message));
  };

  JsonRpc.prototype._settle = function (id) {
    var entry = this._pending.get(id);
    if (entry === undefined) return null;
    this._pending.delete(id);
    if (entry.timer !== null) clearTimeout(entry.timer);
    return entry;
  };

  // Receiving

  // Handle one message from the other end (the message listener calls it; call
  // it yourself for a transport without events). Returns a Promise that
  // settles once every request it carried is answered.
  JsonRpc.prototype.receive = function (text) {
    if (this._closed !== null || typeof text !== "string") return Promise.resolve();
    var data;
    try {
      data = JSON.parse(text);
    } catch (error) {
      return this._answer(errorMessage(null, PARSE_ERROR));
    }
    if (!Array.isArray(data)) {
      var self = this;
      return this._handle(data).then(function (answer) {
        if (answer !== null) return self._answer(answer);
      });
    }
    if (data.length === 0) return this._answer(errorMessage(null, INVALID_REQUEST));
    if (this.maxBatch && data.length > this.maxBatch) {
      return this._answer(errorMessage(null, INVALID_REQUEST, undefined,
        "a batch of " + data.length + " is over the limit of " + this.maxBatch));
    }
    var me = this;
    return Promise.all(data.map(function (member) { return me._handle(member); }))
      .then(function (answers) {
        // §6: one array of the answers; nothing at all when there are none.
        answers = answers.filter(function (answer) { return answer !== null; });
        if (answers.length) return me._answer(answers);
      });
  };

  JsonRpc.prototype._answer = function (message) {
    try {
      this._send(JSON.stringify(message));
    } catch (error) {
      // The connection is gone: nobody to answer.
    }
    return Promise.resolve();
  };

  // One message: a Promise of the answer to send, or of null.
  JsonRpc.prototype._handle = function (obj) {
    if (!isObject(obj) || obj.jsonrpc !== "2.0") {
      return Promise.resolve(errorMessage(null, INVALID_REQUEST));
    }
    if (has(obj, "method")) {
      var id = obj.id, isRequest = has(obj, "id");
      var replyId = isId(id) ? id : null;
      if (typeof obj.method !== "string" ||
          (has(obj, "params") && (obj.params === null || typeof obj.params !== "object"))) {
        return Promise.resolve(errorMessage(replyId, INVALID_REQUEST));
      }
      if (isRequest && !isId(id)) return Promise.resolve(errorMessage(null, INVALID_REQUEST));
      return this._run(obj.method, obj.params).then(function (outcome) {
        if (!isRequest) return null; // §4.1: never answer a notification
        if (outcome.error) return {jsonrpc: "2.0", error: outcome.error, id: id};
        return {jsonrpc: "2.0", result: outcome.result, id: id};
      });
    }
    // A response (§5).
    var hasResult = has(obj, "result"), hasError = has(obj, "error");
    if (!has(obj, "id") || !isId(obj.id) || hasResult === hasError ||
        (hasError && !(isObject(obj.error) && Number.isInteger(obj.error.code) &&
                       typeof obj.error.message === "string"))) {
      return Promise.resolve(errorMessage(null, INVALID_REQUEST));
    }
    var entry = this._settle(obj.id);
    if (entry !== null) {
      if (hasError) entry.reject(RPCError(obj.error.code, obj.error.message, obj.error.data));
      else entry.resolve(obj.result);
    }
    return Promise.resolve(null);
  };

  // Run a method: a Promise of {result} or {error} (an error object).
  JsonRpc.prototype._run = function (method, params) {
    var self = this;
    var methods = this.methods;
    if (!has(methods, method) || typeof methods[method] !== "function") {
      return Promise.resolve({error: {code: METHOD_NOT_FOUND, message: MESSAGES[METHOD_NOT_FOUND]}});
    }
    return new Promise(function (resolve) {
      // Array params by position; object params as one argument; none: no arguments.
      var args = params === undefined ? [] : Array.isArray(params) ? params : [params];
      resolve(methods[method].apply(self, args));
    }).then(function (result) {
      return {result: result === undefined ? null : result};
    }, function (thrown) {
      if (thrown && Number.isInteger(thrown.code) && typeof thrown.message === "string") {
        var error = {code: thrown.code, message: thrown.message};
        if (thrown.data !== undefined) error.data = thrown.data;
        return {error: error};
      }
      if (self.onerror) self.onerror(thrown, method);
      return {error: {code: INTERNAL_ERROR, message: MESSAGES[INTERNAL_ERROR]}};
    });
  };

  // Closing

  // Stop: detach from the socket (which stays open) and reject pending calls.
  // The socket's close event calls it too.
  JsonRpc.prototype.close = function (reason) {
    if (this._closed !== null) return;
    this._closed = reason || "";
    this._detach();
    this._queue = [];
    var pending = this._pending;
    this._pending = new Map();
    pending.forEach(function (entry) {
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.reject(closedError(reason));
    });
  };

  Object.defineProperty(JsonRpc.prototype, "pending", {
    get: function () { return this._pending.size; },
  });

  Longwire.JsonRpc = JsonRpc;
  Longwire.RPCError = RPCError;
})(typeof globalThis !== "undefined" ? globalThis : this);
