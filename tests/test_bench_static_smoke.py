"""The static-file benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/static_bench.py --quick`` for longwire (default loop) and aiohttp, all
four workloads, one repetition of 1 s windows. It needs ``wrk``: its absence
fails the test.
"""

from bench_smoke import run_workloads

WORKLOADS = ["static-small", "static-large", "static-304", "static-range"]
SERVERS = ["longwire", "aiohttp"]


def test_static_benchmark_smoke_run(tmp_path):
    cells = run_workloads(
        "static_bench.py", tmp_path / "static.json", SERVERS, WORKLOADS, timeout=28
    )
    for cell in cells:
        assert "skipped" not in cell, cell  # both answer 304 and 206
        assert cell["server_us_per_unit"] > 0, cell
