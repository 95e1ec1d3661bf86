"""A live dashboard fed by Server-Sent Events: load average, memory, a counter.

Run it with either of::

    python examples/dashboard.py            # http://127.0.0.1:8000/
    longwire serve examples.dashboard:app   # from the repository's root

The page (``GET /``) opens an ``EventSource`` on ``/stats``; a background task
publishes one ``stats`` event a second to every open stream, with an id, and
the endpoint keeps the last 60 so that a browser that lost its connection gets
what it missed when it comes back (``Last-Event-ID``). Heartbeats keep idle
proxies from closing the stream; ``X-Accel-Buffering: no`` keeps nginx from
buffering it. Each new stream also gets the latest figures at once, through the
endpoint's handler.

``DASHBOARD_INTERVAL`` (seconds, default 1) sets the pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from longwire import App, Response
from longwire.app import EventStream

INTERVAL = float(os.environ.get("DASHBOARD_INTERVAL", "1.0"))

app = App()
_state: dict[str, Any] = {"counter": 0, "latest": None, "task": None}

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>longwire dashboard</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: 1rem; }
  .card { border: 1px solid #ddd; border-radius: .5rem; padding: 1rem; }
  .card b { display: block; font-size: 2rem; font-variant-numeric: tabular-nums; }
  #status.down { color: #b00; }
</style>
<h1>longwire dashboard</h1>
<p>Stream: <span id="status">connecting</span></p>
<div class="grid">
  <div class="card">Load (1 min)<b id="load1">-</b></div>
  <div class="card">Load (5 min)<b id="load5">-</b></div>
  <div class="card">Memory used<b id="memory">-</b></div>
  <div class="card">Counter<b id="counter">-</b></div>
  <div class="card">Viewers<b id="viewers">-</b></div>
  <div class="card">Server time<b id="time">-</b></div>
</div>
<script>
  const status = document.getElementById("status");
  const show = (id, value) => { document.getElementById(id).textContent = value; };
  const source = new EventSource("/stats");
  source.onopen = () => { status.textContent = "live"; status.className = ""; };
  source.onerror = () => { status.textContent = "reconnecting"; status.className = "down"; };
  source.addEventListener("stats", (event) => {
    const s = JSON.parse(event.data);
    show("load1", s.load[0].toFixed(2));
    show("load5", s.load[1].toFixed(2));
    show("memory", s.memory_used_percent === null ? "n/a" : s.memory_used_percent + " %");
    show("counter", s.counter);
    show("viewers", s.viewers);
    show("time", new Date(s.time * 1000).toLocaleTimeString());
  });
</script>
</html>
"""


def _memory_used_percent() -> float | None:
    """The share of memory in use, from /proc/meminfo (Linux), else ``None``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            fields = {line.split(":")[0]: int(line.split()[1]) for line in file if ":" in line}
        total, available = fields["MemTotal"], fields["MemAvailable"]
    except (OSError, KeyError, ValueError, IndexError):
        return None
    return round(100 * (total - available) / total, 1)


def snapshot() -> dict[str, Any]:
    """The figures of one ``stats`` event."""
    try:
        load = list(os.getloadavg())
    except OSError:  # not available on this platform
        load = [0.0, 0.0, 0.0]
    return {
        "time": time.time(),
        "load": load,
        "memory_used_percent": _memory_used_percent(),
        "counter": _state["counter"],
        "viewers": stats.subscribers,
    }


@app.get("/")
def index(request: Any) -> Response:
    return Response.html(PAGE)


@app.sse("/stats", heartbeat=15.0, retry=1000, history=60)
async def stats(request: Any, events: EventStream) -> None:
    """Each viewer: the latest figures at once (unless resuming), then the broadcast."""
    latest = _state["latest"]
    if latest is not None and events.last_event_id is None:
        await events.send_json(latest, event="stats")
    await events.wait_closed()


async def _ticker() -> None:
    while True:
        _state["counter"] += 1
        figures = _state["latest"] = snapshot()
        stats.publish_json(figures, event="stats", id=str(_state["counter"]))
        await asyncio.sleep(INTERVAL)


@app.on_startup
async def _start() -> None:
    _state["task"] = asyncio.get_running_loop().create_task(_ticker())


@app.on_shutdown
async def _stop() -> None:
    task = _state["task"]
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _state["task"] = None


if __name__ == "__main__":
    app.run("127.0.0.1", 8000)
