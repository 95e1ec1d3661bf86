"""aiohttp.web static-file benchmark server: ``web.static("/", directory)``.

aiohttp's defaults (no listing, symlinks not followed, ``FileResponse`` with
``loop.sendfile``; where the loop has none, uvloop, it falls back to 256 KiB
reads in the default thread pool), the access log off, the loop per
``--uvloop``.
"""

from __future__ import annotations

from _common import parse_args, run, serve_aiohttp
from aiohttp import web


async def main(host: str, port: int, directory: str) -> None:
    app = web.Application()
    app.add_routes([web.static("/", directory)])
    await serve_aiohttp(app, host, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], static=True)
    run(main(args.host, args.port, args.directory), args.uvloop)
