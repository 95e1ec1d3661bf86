"""REDbot, the HTTP linter, on what longwire's app layer serves: a static file
and a directory's index page (``StaticFiles``), and a JSON route.

For each URL: no note of level "bad"; no "warning" but those allowed below for
that URL, each with its reason; and the "good" notes a correct response earns
(REDbot's active checks: ranges, If-None-Match, If-Modified-Since), so that a
response that merely gives REDbot nothing to check (no validators, no
``Accept-Ranges``) does not pass. See ``redbot_testing`` for how REDbot runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redbot_testing import REDBOT_TIMEOUT, Report, redbot

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.app import StaticFiles

pytestmark = pytest.mark.interop

# Big enough that REDbot's range check (up to 97 bytes from a random offset of
# what it read) asks for a real part: on a file shorter than that, its range
# covers the whole file, and it warns (RANGE_CL_FULL) that the 206's
# Content-Length equals the full response's.
CSS = "".join(f".c{i} {{ color: #{i * 2731 % 0xFFFFFF:06x}; }}\n" for i in range(120))
INDEX = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>longwire static</title>
<link rel="stylesheet" href="../app.css">
<p>Served by StaticFiles.</p>
</html>
"""

# A file served by StaticFiles: validators, ranges, conditional requests.
FILE_GOOD = frozenset({"CL_CORRECT", "RANGE_CORRECT", "INM_304", "IMS_304"})


@dataclass(frozen=True)
class Expected:
    path: str
    good: frozenset[str]
    """Note ids that must be there."""
    allowed_warnings: dict[str, str] = field(default_factory=dict)
    """Warning note ids that may be there, each with the reason."""


EXPECTED = [
    Expected("/static/app.css", FILE_GOOD),
    Expected("/static/docs/", FILE_GOOD),  # docs/index.html
    Expected(
        "/api/items",
        frozenset({"CL_CORRECT"}),
        {
            # A handler's response has no Cache-Control unless the handler gives
            # one: how long a resource's data stays good is the application's
            # call, not the framework's. Without one, RFC 9111 §4.2.2 lets caches
            # guess a lifetime for a 200, and REDbot warns about that.
            "FRESHNESS_HEURISTIC": "caching policy is the application's",
        },
    ),
]


def redbot_app(static_dir: Path) -> App:
    app = App()
    app.get("/static/{path:path}")(StaticFiles(static_dir))

    @app.get("/api/items")
    def items(request: Any) -> dict[str, Any]:
        return {"items": [{"id": 1, "name": "wïdget"}, {"id": 2, "name": "gadget"}]}

    return app


def lint(static_dir: Path, path: str) -> Report:
    async def main() -> Report:
        config = ServerConfig(access_log=False)
        async with Server(redbot_app(static_dir), port=0, config=config) as server:
            return await redbot(f"http://127.0.0.1:{server.port}{path}")

    report: Report = run_without_leaks(main(), timeout=REDBOT_TIMEOUT + 10)
    return report


@pytest.mark.parametrize("expected", EXPECTED, ids=[e.path for e in EXPECTED])
def test_redbot_finds_no_problem(tmp_path: Path, expected: Expected) -> None:
    (tmp_path / "app.css").write_text(CSS, encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text(INDEX, encoding="utf-8")

    report = lint(tmp_path, expected.path)

    details = report.describe()
    assert report.status == 200, details
    assert not report.at_level("bad"), details
    warnings = [n for n in report.at_level("warning") if n.id not in expected.allowed_warnings]
    assert not warnings, details
    assert expected.good <= report.ids(), details
