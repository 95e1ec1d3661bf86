"""uvicorn + starlette static-file benchmark server: ``StaticFiles(directory=...)``.

starlette's ``StaticFiles`` as the whole ASGI app (its defaults: no html mode,
symlinks not followed; ``FileResponse`` reads 64 KiB chunks through anyio's
worker threads), under uvicorn's benchmark configuration: ``http="httptools"``,
``loop="uvloop"`` (always, whatever ``--uvloop`` says), ``lifespan="off"``,
``access_log=False``, ``log_level="warning"``.
"""

from __future__ import annotations

import uvicorn
from _common import parse_args, run, serve_uvicorn
from starlette.staticfiles import StaticFiles


async def main(host: str, port: int, directory: str) -> None:
    config = uvicorn.Config(
        StaticFiles(directory=directory), host=host, port=port,
        http="httptools", loop="uvloop", lifespan="off", access_log=False,
        log_level="warning",
    )
    await serve_uvicorn(config, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], static=True)
    run(main(args.host, args.port, args.directory), use_uvloop=True)
