"""The broadcast benchmark still runs (a tiny smoke run; benchmarks are not tests).

``bench/broadcast_bench.py --quick`` against the single-node servers (the
longwire hub, python-socketio on uvicorn and on aiohttp, websockets, picows, the
raw-asyncio bound): 50 subscribers, each first checked on 5 messages (exactly
those, in order, parsed), then 3 single-message fan-outs and a 20-message burst
counted and checked (every subscriber got 20, the last one right).
"""

from bench_smoke import run_quick

SERVERS = ["longwire", "socketio-uvicorn", "socketio-aiohttp", "websockets", "picows", "raw"]


def test_broadcast_benchmark_smoke_run(tmp_path):
    cells = run_quick(
        "broadcast_bench.py", tmp_path / "broadcast.json", SERVERS,
        ["broadcast-64B: 50 subscribers × 20 messages"], timeout=90,
    )
    assert sorted(c["server"] for c in cells) == sorted(SERVERS)
    for cell in cells:
        assert cell["ok"], cell
        assert cell["clients"] == 50, cell
        assert cell["messages"] == 50 * 20, cell
        assert len(cell["latencies"]) == 3, cell
        assert cell["server_us_per_msg"] >= 0, cell  # 10 ms clock ticks: may read 0
        assert cell["seconds"] > 0, cell
