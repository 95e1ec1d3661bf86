"""The long-poll benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/longpoll_bench.py --quick`` against every server (longwire's
``Sessions`` and hand-written variants, aiohttp, uvicorn, the raw-asyncio
bound): one repetition of a 0.5 s window after each server's answers are
checked (messages in order, none missing, data intact).
"""

from bench_smoke import run_quick

SERVERS = ["longwire-sessions", "longwire-plain", "aiohttp", "uvicorn", "raw"]


def test_longpoll_benchmark_smoke_run(tmp_path):
    cells = run_quick(
        "longpoll_bench.py", tmp_path / "longpoll.json", SERVERS, ["longpoll-push"], timeout=50,
    )
    assert sorted(c["server"] for c in cells) == sorted(SERVERS)
    for cell in cells:
        assert cell["ok"], cell
        assert cell["checked"] > 0, cell
        assert cell["messages"] > 0, cell
        assert cell["polls"] > 0, cell
        assert cell["server_us_per_msg"] > 0, cell
