"""examples/dashboard.py: the page, and its event stream carrying the figures.

Run in-process (the example's ``app`` on a longwire ``Server``, with a fast
ticker) and as a script (``python examples/dashboard.py`` is importable and
its app starts).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import aiohttp

from leakcheck import run_without_leaks
from longwire.aio import Server, ServerConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dashboard.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dashboard_page_and_events() -> None:
    dashboard = load_example()
    dashboard.INTERVAL = 0.05

    async def main() -> tuple[str, list[dict[str, object]], list[str]]:
        config = ServerConfig(access_log=False)
        async with (
            Server(dashboard.app, port=0, config=config) as server,
            aiohttp.ClientSession() as session,
        ):
            base = f"http://127.0.0.1:{server.port}"
            async with session.get(base + "/") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/html")
                page = await response.text()
            events: list[dict[str, object]] = []
            ids: list[str] = []
            async with session.get(base + "/stats") as response:
                assert response.headers["Content-Type"] == "text/event-stream"
                async for line in response.content:
                    text = line.decode().rstrip("\n")
                    if text.startswith("id: "):
                        ids.append(text[4:])
                    elif text.startswith("data: "):
                        events.append(json.loads(text[6:]))
                        if len(events) == 4:
                            break
        return page, events, ids

    page, events, ids = run_without_leaks(main(), timeout=20.0)
    assert 'new EventSource("/stats")' in page
    assert {"time", "load", "memory_used_percent", "counter", "viewers"} <= set(events[0])
    counters = [event["counter"] for event in events]
    assert counters == sorted(counters)
    assert counters[-1] > counters[0]
    assert events[-1]["viewers"] == 1
    assert len(events[0]["load"]) == 3  # type: ignore[arg-type]
    assert ids == [str(event["counter"]) for event in events[-len(ids) :]]


def test_dashboard_runs_as_a_script() -> None:
    code = (
        "import runpy, longwire.app;"
        "longwire.app.App.run = lambda self, *a, **k: print('run', a);"
        f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')"
    )

    async def main() -> bytes:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return out

    assert run_without_leaks(main(), timeout=20.0) == b"run ('127.0.0.1', 8000)\n"
