"""A FastAPI app with the routes listed in ``apps/__init__.py``, written the FastAPI way
(pydantic bodies, typed parameters, dependencies on Header/Cookie/Form/File)."""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    BackgroundTasks,
    Cookie,
    FastAPI,
    File,
    Form,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from apps import _shared

FRAMEWORK = "fastapi"

app = FastAPI()


class Counter(BaseModel):
    name: str
    count: int


@app.get("/json")
async def get_json() -> dict[str, str]:
    return {"framework": FRAMEWORK, "hello": "world"}


@app.post("/json")
async def post_json(counter: Counter) -> Counter:
    return Counter(name=counter.name, count=counter.count + 1)


@app.get("/items/{item_id}")
async def item(
    item_id: int, q: str | None = None, tag: Annotated[list[str] | None, Query()] = None,
) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "tags": tag or []}


@app.get("/headers")
async def headers(
    response: Response,
    x_test: Annotated[str, Header()] = "",
    session: Annotated[str | None, Cookie()] = None,
    theme: Annotated[str | None, Cookie()] = None,
) -> dict[str, object]:
    response.headers["x-echo"] = x_test
    response.set_cookie("session", "abc", httponly=True)
    response.set_cookie("theme", "dark")
    cookies = {k: v for k, v in {"session": session, "theme": theme}.items() if v is not None}
    return {"x_test": x_test, "cookies": cookies}


@app.get("/stream")
async def stream(id: str) -> StreamingResponse:
    return StreamingResponse(_shared.stream_chunks(id), media_type="text/plain")


@app.post("/release/{key}")
async def release(key: str) -> dict[str, bool]:
    _shared.release_event(key).set()
    return {"released": True}


@app.post("/upload")
async def upload(
    note: Annotated[str, Form()], file: Annotated[UploadFile, File()],
) -> dict[str, object]:
    data = await file.read()
    return {
        "note": note, "filename": file.filename, "content_type": file.content_type,
        "size": len(data), "sha256": _shared.digest(data),
    }


@app.post("/size")
async def size(request: Request) -> dict[str, object]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    return {"size": len(body), "sha256": _shared.digest(bytes(body))}


@app.post("/background/{key}")
async def schedule(key: str, tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(_shared.mark_done, key)
    return {"scheduled": key}


@app.get("/background/{key}")
async def background_state(key: str) -> dict[str, str | None]:
    return {"key": key, "state": _shared.background_done.get(key)}


@app.get("/error")
async def error() -> None:
    raise RuntimeError("boom")


@app.get("/root", name="root")
async def root(request: Request) -> dict[str, str]:
    return {
        "root_path": request.scope.get("root_path", ""), "path": request.scope["path"],
        "url": str(request.url), "url_for": str(request.url_for("root")),
    }


@app.get("/client")
async def client(request: Request) -> dict[str, str | None]:
    host = request.client.host if request.client else None
    return {"host": host, "scheme": request.url.scheme, "url": str(request.url)}


@app.get("/scope")
async def scope(request: Request) -> dict[str, object]:
    return _shared.scope_fields(request.scope)


@app.get("/ws-closed/{key}")
async def ws_closed(key: str) -> dict[str, object] | None:
    return _shared.ws_closed.get(key)


@app.websocket("/ws/echo")
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


@app.websocket("/ws/record/{key}")
async def ws_record(websocket: WebSocket, key: str) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as closed:
        _shared.ws_closed[key] = {"code": closed.code, "reason": closed.reason}


@app.websocket("/ws/subprotocol")
async def ws_subprotocol(websocket: WebSocket) -> None:
    offered = list(websocket.scope.get("subprotocols", []))
    chosen = _shared.choose_subprotocol(offered)
    await websocket.accept(subprotocol=chosen)
    await websocket.send_json({"offered": offered, "chosen": chosen})
    try:
        await websocket.receive_text()
    except WebSocketDisconnect:
        return


@app.websocket("/ws/close")
async def ws_close(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("bye")
    await websocket.close(code=4001, reason="custom reason")


@app.websocket("/ws/reject")
async def ws_reject(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


@app.websocket("/ws/room/{name}")
async def ws_room(
    websocket: WebSocket, name: str, token: str | None = None,
    x_test: Annotated[str | None, Header()] = None,
) -> None:
    await websocket.accept()
    await websocket.send_json({
        "name": name, "token": token, "x_test": x_test, "scheme": websocket.url.scheme,
        "client": websocket.client.host if websocket.client else None,
    })
    try:
        await websocket.receive_text()
    except WebSocketDisconnect:
        return
