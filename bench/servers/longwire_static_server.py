"""longwire static-file benchmark server: ``app.static("/", directory)``.

Everything at its defaults (``index="index.html"``, ``cache_control="no-cache"``,
no listing, hidden files refused) under ``longwire.aio.run`` with
``access_log=False`` and ``uvloop`` per ``--uvloop``. On the default asyncio
loop files above 64 KiB go out with ``loop.sendfile``; on uvloop (no native
sendfile) they are read in 256 KiB pieces on the loop. Files up to 64 KiB are
read at once and written with the head. ``READY`` is printed from ``run``'s
``ready`` callback.
"""

from __future__ import annotations

from _common import announce, parse_args

from longwire.aio import run
from longwire.app import App

if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], static=True)
    app = App()
    app.static("/", args.directory)
    run(
        app, host=args.host, port=args.port, access_log=False, uvloop=args.uvloop,
        ready=lambda server: announce(args.port),
    )
