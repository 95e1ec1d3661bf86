"""A Starlette app with the routes listed in ``apps/__init__.py``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from apps import _shared

FRAMEWORK = "starlette"


async def get_json(request: Request) -> Response:
    return JSONResponse({"framework": FRAMEWORK, "hello": "world"})


async def post_json(request: Request) -> Response:
    data = await request.json()
    return JSONResponse({"name": data["name"], "count": data["count"] + 1})


async def item(request: Request) -> Response:
    return JSONResponse({
        "item_id": request.path_params["item_id"],
        "q": request.query_params.get("q"),
        "tags": request.query_params.getlist("tag"),
    })


async def headers(request: Request) -> Response:
    value = request.headers.get("x-test", "")
    response = JSONResponse({"x_test": value, "cookies": dict(request.cookies)},
                            headers={"x-echo": value})
    response.set_cookie("session", "abc", httponly=True)
    response.set_cookie("theme", "dark")
    return response


async def stream(request: Request) -> Response:
    return StreamingResponse(_shared.stream_chunks(request.query_params["id"]),
                             media_type="text/plain")


async def release(request: Request) -> Response:
    _shared.release_event(request.path_params["key"]).set()
    return JSONResponse({"released": True})


async def upload(request: Request) -> Response:
    async with request.form() as form:
        upload = form["file"]
        assert not isinstance(upload, str)
        data = await upload.read()
        return JSONResponse({
            "note": form["note"], "filename": upload.filename,
            "content_type": upload.content_type, "size": len(data),
            "sha256": _shared.digest(data),
        })


async def size(request: Request) -> Response:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    return JSONResponse({"size": len(body), "sha256": _shared.digest(bytes(body))})


async def schedule(request: Request) -> Response:
    key = request.path_params["key"]
    return JSONResponse({"scheduled": key}, background=BackgroundTask(_shared.mark_done, key))


async def background_state(request: Request) -> Response:
    key = request.path_params["key"]
    return JSONResponse({"key": key, "state": _shared.background_done.get(key)})


async def error(request: Request) -> Response:
    raise RuntimeError("boom")


async def root(request: Request) -> Response:
    return JSONResponse({
        "root_path": request.scope.get("root_path", ""), "path": request.scope["path"],
        "url": str(request.url), "url_for": str(request.url_for("root")),
    })


async def client(request: Request) -> Response:
    host = request.client.host if request.client else None
    return JSONResponse({"host": host, "scheme": request.url.scheme, "url": str(request.url)})


async def scope(request: Request) -> Response:
    return JSONResponse(_shared.scope_fields(request.scope))


async def ws_closed(request: Request) -> Response:
    return JSONResponse(_shared.ws_closed.get(request.path_params["key"]))


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


async def ws_record(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as closed:
        _shared.ws_closed[websocket.path_params["key"]] = {
            "code": closed.code, "reason": closed.reason,
        }


async def ws_subprotocol(websocket: WebSocket) -> None:
    offered = list(websocket.scope.get("subprotocols", []))
    chosen = _shared.choose_subprotocol(offered)
    await websocket.accept(subprotocol=chosen)
    await websocket.send_json({"offered": offered, "chosen": chosen})
    try:
        await websocket.receive_text()
    except WebSocketDisconnect:
        return


async def ws_close(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("bye")
    await websocket.close(code=4001, reason="custom reason")


async def ws_reject(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


async def ws_room(websocket: WebSocket) -> None:
    await websocket.accept()
    client_host = websocket.client.host if websocket.client else None
    await websocket.send_json({
        "name": websocket.path_params["name"], "token": websocket.query_params.get("token"),
        "x_test": websocket.headers.get("x-test"), "scheme": websocket.url.scheme,
        "client": client_host,
    })
    try:
        await websocket.receive_text()
    except WebSocketDisconnect:
        return


app = Starlette(routes=[
    Route("/json", get_json, methods=["GET"]),
    Route("/json", post_json, methods=["POST"]),
    Route("/items/{item_id:int}", item),
    Route("/headers", headers),
    Route("/stream", stream),
    Route("/release/{key}", release, methods=["POST"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/size", size, methods=["POST"]),
    Route("/background/{key}", schedule, methods=["POST"]),
    Route("/background/{key}", background_state, methods=["GET"]),
    Route("/error", error),
    Route("/root", root, name="root"),
    Route("/client", client),
    Route("/scope", scope),
    Route("/ws-closed/{key}", ws_closed),
    WebSocketRoute("/ws/echo", ws_echo),
    WebSocketRoute("/ws/record/{key}", ws_record),
    WebSocketRoute("/ws/subprotocol", ws_subprotocol),
    WebSocketRoute("/ws/close", ws_close),
    WebSocketRoute("/ws/reject", ws_reject),
    WebSocketRoute("/ws/room/{name}", ws_room),
])
