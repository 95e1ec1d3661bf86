"""ASGI apps that tests/asgi/test_frameworks.py serves with longwire and with uvicorn.

The servers import them as ``apps.<module>:<attribute>`` from ``tests/asgi``
(their working directory): ``tests`` itself cannot be the top-level package
because an installed distribution (sniffpy) ships a regular package named
``tests`` that shadows this checkout's.

``starlette_app`` and ``fastapi_app`` answer the same routes the same way (the
tests run once per framework):

HTTP
  GET  /json                   {"framework": NAME, "hello": "world"}
  POST /json                   {"name": N, "count": C} -> {"name": N, "count": C + 1}
  GET  /items/{item_id:int}    ?q=&tag=&tag= -> {"item_id", "q", "tags"}
  GET  /headers                echoes x-test and the cookies; answers x-echo and two Set-Cookie
  GET  /stream?id=K            text/plain chunks; the second waits for POST /release/K
  POST /release/{key}          lets /stream?id=key go on
  POST /upload                 multipart: field "note", file "file" -> name, type, size, sha256
  POST /size                   the request body read as a stream -> {"size", "sha256"}
  POST /background/{key}       answers at once; a background task then marks key done
  GET  /background/{key}       {"key", "state"}: null until the task ran, then "done"
  GET  /error                  raises RuntimeError: 500
  GET  /root                   root_path, path and URLs as the app sees them
  GET  /client                 the client host, scheme and URL as the app sees them
  GET  /scope                  the ASGI scope's protocol fields

WebSocket
  /ws/echo                     echoes each message, text as text, bytes as bytes
  /ws/record/{key}             waits for the client's close; GET /ws-closed/{key} tells its code
  /ws/subprotocol              accepts the first offered of chat.v2, chat.v1; sends what it saw
  /ws/close                    sends "bye", then closes with 4001 "custom reason"
  /ws/reject                   closes before accepting: the handshake is refused (403)
  /ws/room/{name}              sends name, ?token=, x-test header, scheme and client host
"""
