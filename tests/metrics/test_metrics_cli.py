"""``longwire serve --metrics [PATH]`` as a user runs it: a subprocess, scraped with urllib."""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from metrics_support import parse, value

STARTUP_TIMEOUT = 60  # seconds: importing and binding on a loaded machine


@contextlib.contextmanager
def serving(*args: str) -> Iterator[str]:
    """Run ``longwire serve --port 0 ARGS``; the base URL it prints. Killed whatever happens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "longwire", "serve", "--port", "0", "--no-access-log", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        seen = []
        while True:
            try:
                line = lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no address within {STARTUP_TIMEOUT} s: {seen}")
            if line is None:
                pytest.fail(f"exited ({process.wait()}) before listening: {seen}")
            seen.append(line)
            match = re.search(r" at (http://\S+/) ", line)
            if match:
                break
        yield match[1].rstrip("/")
    finally:
        process.kill()
        process.wait(timeout=30)
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def fetch(url: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read().decode()
            return response.status, response.headers["Content-Type"], body
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_serve_with_metrics_at_the_default_path():
    with serving("--metrics") as base:
        assert fetch(f"{base}/")[0] == 200  # the demo page
        assert fetch(f"{base}/nothing-here")[0] == 404
        status, content_type, body = fetch(f"{base}/metrics")
        assert status == 200
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse(body)
        assert value(samples, "longwire_http_requests_total", status="200") == 1
        assert value(samples, "longwire_http_requests_total", status="404") == 1
        assert value(samples, "longwire_connections_open", kind="http") == 1  # this scrape

        samples = parse(fetch(f"{base}/metrics")[2])
        assert value(samples, "longwire_http_requests_total", status="200") == 2
        assert fetch(f"{base}/metrics", method="POST")[0] == 405
        assert fetch(f"{base}/metrics", method="HEAD")[:2] == (200, content_type)


def test_serve_with_metrics_at_another_path():
    with serving("--metrics", "/internal/stats") as base:
        assert fetch(f"{base}/metrics")[0] == 404
        status, _, body = fetch(f"{base}/internal/stats")
        assert status == 200
        assert "# TYPE longwire_connections_open gauge" in body


def test_metrics_path_must_be_a_path():
    result = subprocess.run(
        [sys.executable, "-m", "longwire", "serve", "--metrics", "myapp:app"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "expected a path such as /metrics, not 'myapp:app'" in result.stderr
