"""Static-file benchmark: longwire's ``app.static`` and its peers side by side, same run.

Method (shared/BENCHMARKING.md), as ``bench/servers_bench.py`` (whose process
helpers this script imports): the bench writes one directory in a temporary
dir (a 4 KiB ``small.css``, a 16 MiB random ``large.bin``, both dated an hour
back so every server's validators are settled) and every server serves it at
``/``. For each repetition and workload the servers run one after the other
(the order rotates each repetition), each on a fresh port, pinned to CPU 0
(``taskset -c 0``); ``wrk -t1`` is pinned to CPU 1. Before a cell is timed its
answers are checked against the file's bytes (status, length, content; for the
304 and range workloads with each server's own ETag and the exact range), so
no server is measured answering something else; then a 1 s warm-up, then the
timed window, over which the CPU time (utime and stime from /proc/PID/stat,
every thread of the process) of the server and of wrk is taken. A peer that
does not answer 304 or 206 where asked is shown as n/a with what it answered.

Reported per server: the median throughput over repetitions, the medians of
the per-repetition ratios longwire ÷ peer (for longwire on the default loop
and on uvloop) and peer ÷ raw bound, the server CPU per request (per MB for
the large-body workloads) split into user + system, both CPU loads, the share
of CPU 0 that other processes took and its softirq time (on loopback most of
the network work of both ends, charged to no process), and a ``†`` where wrk
was the bottleneck (wrk ≥ 90 % CPU, server below 90 %): there the throughput is
the client's ceiling, and the server CPU per request or per MB is the figure
that compares.

Servers (bench/servers/*_static_server.py):
  longwire          app.static("/", dir), longwire.aio.run, default asyncio loop
                    (files > 64 KiB with loop.sendfile)
  longwire-uvloop   the same on uvloop (no sendfile: 256 KiB reads on the loop)
  aiohttp           web.static("/", dir), default loop (FileResponse: loop.sendfile)
  aiohttp-uvloop    the same on uvloop (sendfile not native: thread-pool reads)
  starlette         starlette StaticFiles under uvicorn (httptools, uvloop)
  raw               the raw-asyncio bound: pre-built answers, loop.sendfile

Workloads (wrk -t1):
  static-small   keep-alive GET /small.css (4 KiB), -c50            req/s
  static-large   GET /large.bin (16 MiB), -c4                       MB/s
  static-304     GET /small.css, If-None-Match: <its ETag>, -c50    req/s
  static-range   GET /large.bin, Range: bytes=1000000-1999999, -c4  MB/s (1 MB answers)

Usage:
  python bench/static_bench.py [--workloads W ...] [--servers S ...] [--repeat 3]
                               [--duration 3] [--quick] [--output FILE]

Writes the raw results to bench/results/static-<timestamp>.json. A failed check
fails the run (exit status 1); a server whose script exits before it is ready
is skipped with a message.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.client
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

# bench/ is not a package: run as a script, its directory is sys.path[0].
from servers_bench import (
    CLIENT_BOUND,
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    Run,
    Server,
    fmt,
    median,
    status,
    time_wrk,
    versions,
)

BENCH = Path(__file__).resolve().parent
SMALL_NAME = "small.css"
SMALL_SIZE = 4 * 1024
LARGE_NAME = "large.bin"
LARGE_SIZE = 16 * 1024 * 1024
RANGE_FIRST, RANGE_LAST = 1_000_000, 1_999_999
RANGE_SIZE = RANGE_LAST - RANGE_FIRST + 1
LONGWIRES = ("longwire", "longwire-uvloop")


@dataclasses.dataclass(frozen=True)
class Peer:
    script: str
    uvloop: bool  # passes --uvloop
    package: str | None
    settings: str


PEERS: dict[str, Peer] = {
    "longwire": Peer(
        "longwire_static_server.py", False, "longwire",
        'App().static("/", dir) defaults (cache_control "no-cache"), longwire.aio.run '
        "access_log=False, default asyncio loop: loop.sendfile above 64 KiB",
    ),
    "longwire-uvloop": Peer(
        "longwire_static_server.py", True, "longwire",
        "the same on uvloop (no native sendfile: 256 KiB reads on the loop)",
    ),
    "aiohttp": Peer(
        "aiohttp_static_server.py", False, "aiohttp",
        'web.static("/", dir) defaults, access log off, default asyncio loop '
        "(FileResponse: loop.sendfile)",
    ),
    "aiohttp-uvloop": Peer(
        "aiohttp_static_server.py", True, "aiohttp",
        "the same on uvloop (loop.sendfile not implemented: 256 KiB reads in the "
        "default thread pool)",
    ),
    "starlette": Peer(
        "starlette_static_server.py", True, "starlette",
        "starlette.staticfiles.StaticFiles(directory=dir) as the ASGI app under uvicorn "
        '(http="httptools", loop="uvloop", lifespan off, access log off); 64 KiB reads '
        "through anyio worker threads",
    ),
    "raw": Peer(
        "raw_static_server.py", False, None,
        "asyncio.BufferedProtocol bound on the default loop: answers built at start "
        "(small file in memory, one write), loop.sendfile for the large one; "
        "If-None-Match and one-range Range found by substring, nothing else parsed",
    ),
}
DEFAULT_SERVERS = list(PEERS)


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    path: str
    conns: int
    unit: str  # "req/s" or "MB/s"
    ask: str = ""  # "etag": If-None-Match with the server's ETag; "range": the range
    description: str = ""

    @property
    def body_size(self) -> int:
        if self.ask == "etag":
            return 0
        if self.ask == "range":
            return RANGE_SIZE
        return SMALL_SIZE if self.path == "/" + SMALL_NAME else LARGE_SIZE

    @property
    def per_mb(self) -> bool:
        return self.unit == "MB/s"


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("static-small", "/" + SMALL_NAME, 50, "req/s",
                 description="wrk -t1 -c50, keep-alive GET of a 4 KiB .css"),
        Workload("static-large", "/" + LARGE_NAME, 4, "MB/s",
                 description="wrk -t1 -c4, GET of a 16 MiB random .bin"),
        Workload("static-304", "/" + SMALL_NAME, 50, "req/s", ask="etag",
                 description="wrk -t1 -c50, GET of the 4 KiB file with If-None-Match: "
                 "<the server's ETag> (304)"),
        Workload("static-range", "/" + LARGE_NAME, 4, "MB/s", ask="range",
                 description=f"wrk -t1 -c4, GET of the 16 MiB file with Range: "
                 f"bytes={RANGE_FIRST}-{RANGE_LAST} (206, 1,000,000 bytes)"),
    ]
}


# -- the files and the servers ---------------------------------------------------------


def make_site(directory: Path) -> dict[str, bytes]:
    """Write the served files; their mtime an hour back (validators no longer in flux)."""
    rule = b".c%04d { color: #%06x; margin: 0 auto; }\n"
    css = b"".join(rule % (i, i * 2654435761 % 0xFFFFFF) for i in range(200))[:SMALL_SIZE]
    files = {SMALL_NAME: css.ljust(SMALL_SIZE, b"\n"), LARGE_NAME: os.urandom(LARGE_SIZE)}
    past = time.time() - 3600
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        os.utime(path, (past, past))
    return files


class StaticServer(Server):
    """A static-file server script pinned to CPU 0 (``servers_bench.Server``'s
    READY handshake and teardown, another command line)."""

    def __init__(self, name: str, directory: Path) -> None:
        peer = PEERS[name]
        uvloop = ["--uvloop"] if peer.uvloop else []
        self.start(name, peer.script, ["--directory", str(directory), *uvloop])


def cpu_times() -> dict[str, tuple[float, float]]:
    """Per CPU (/proc/stat), seconds so far: (task time: user + nice + system + the
    steal of other guests; interrupt time: irq + softirq).

    Split because on loopback the kernel does much of the network work for both
    ends in softirq on the sender's CPU, accounted to no process.
    """
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"cpu") and line[3:4].isdigit():
                name, *ticks = line.split()
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, ticks[:8])
                times[name.decode()] = (
                    (user + nice + system + steal) / tick, (irq + softirq) / tick
                )
    return times


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process, all its threads (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


# -- checking ----------------------------------------------------------------------------


class CheckFailed(Exception):
    """The server answered wrongly: nothing is timed."""


def fetch(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes, bool]:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    fields = {name.lower(): value for name, value in response.getheaders()}
    return response.status, fields, body, response.will_close


def expect_body(what: str, answer: tuple[int, dict[str, str], bytes, bool], *,
                want_status: int, want: bytes) -> None:
    status, fields, body, _ = answer
    if status != want_status:
        raise CheckFailed(f"{what}: status {status}, not {want_status}")
    if fields.get("content-length") != str(len(want)):
        raise CheckFailed(f"{what}: Content-Length {fields.get('content-length')!r}, "
                          f"not {len(want)}")
    if body != want:
        raise CheckFailed(f"{what}: {len(body)} bytes that differ from the file's")


def check(port: int, workload: Workload, files: dict[str, bytes]) -> dict[str, Any]:
    """Check the server's answers to ``workload``'s request; the wrk headers to time it.

    ``{"ok": True, "headers": [...], "keep_alive": bool}``; ``"skipped"`` (n/a) when
    the server does not do what is asked (no 304, no 206); ``{"ok": False}`` when
    it answers wrongly.
    """
    data = files[workload.path.lstrip("/")]
    connection = http.client.HTTPConnection(HOST, port, timeout=20)
    try:
        answer = fetch(connection, workload.path)
        expect_body(f"GET {workload.path}", answer, want_status=200, want=data)
        _, fields, _, closes = answer
        first_fields = fields
        headers: list[str] = []
        if workload.ask == "etag":
            etag = fields.get("etag")
            if etag is None:
                return {"ok": True, "skipped": "sends no ETag"}
            headers = [f"If-None-Match: {etag}"]
            for _ in range(2):  # twice: the second on the kept-alive connection
                if closes:
                    connection.close()
                status, fields, body, closes = fetch(
                    connection, workload.path, {"If-None-Match": etag}
                )
                if status != 304:
                    return {"ok": True, "skipped": f"answers {status} (not 304) to "
                            f"If-None-Match with its own ETag {etag}"}
                if body:
                    raise CheckFailed(f"304 with a {len(body)}-byte body")
        elif workload.ask == "range":
            asked = f"bytes={RANGE_FIRST}-{RANGE_LAST}"
            headers = [f"Range: {asked}"]
            for _ in range(2):
                if closes:
                    connection.close()
                answer = fetch(connection, workload.path, {"Range": asked})
                status, fields, _, closes = answer
                if status != 206:
                    return {"ok": True, "skipped": f"answers {status} (not 206) to Range: {asked}"}
                expect_body(f"Range: {asked}", answer, want_status=206,
                            want=data[RANGE_FIRST : RANGE_LAST + 1])
                want_range = f"bytes {RANGE_FIRST}-{RANGE_LAST}/{len(data)}"
                if fields.get("content-range") != want_range:
                    raise CheckFailed(f"Content-Range {fields.get('content-range')!r}, "
                                      f"not {want_range!r}")
        else:
            if closes:
                connection.close()
            answer = fetch(connection, workload.path)
            expect_body(f"GET {workload.path} again", answer, want_status=200, want=data)
            closes = answer[3]
        return {"ok": True, "headers": headers, "keep_alive": not closes,
                "response_fields": first_fields}
    except CheckFailed as failed:
        return {"ok": False, "error": f"check: {failed}"}
    except (OSError, http.client.HTTPException) as error:
        return {"ok": False, "error": f"check: {type(error).__name__}: {error}"}
    finally:
        connection.close()


# -- timing --------------------------------------------------------------------------------

def run_wrk(server: Server, workload: Workload, headers: list[str], duration: int,
            warmup: bool) -> dict[str, Any]:
    url = f"http://{HOST}:{server.port}{workload.path}"
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{workload.conns}"]
    for header in headers:
        command += ["-H", header]
    pid = server.process.pid
    run = time_wrk(command, url, duration, warmup, lambda: (cpu_split(pid), cpu_times()))
    if run.error:
        return {"ok": False, "error": run.error}
    if run.non_2xx:
        return {"ok": False, "error": f"wrk: {run.non_2xx} non-2xx/3xx responses"}
    requests, read = run.requests, run.read
    if not requests:
        return {"ok": False, "error": f"wrk: no complete response: {run.out.strip()[-300:]}"}
    ((user_start, system_start), busy_start), ((user_end, system_end), busy) = (
        run.before, run.after
    )
    # What wrk read must fit what was checked (a server changing its answer mid-run).
    body = workload.body_size
    if body and read < 0.99 * requests * body:
        return {"ok": False, "error": f"wrk read {read:,.0f} bytes: less than {requests:,} "
                f"bodies of {body:,}"}
    if not body and read > requests * 1024:
        return {"ok": False, "error": f"wrk read {read / requests:,.0f} bytes per 304"}
    return {
        "ok": True, "messages": requests, "seconds": run.seconds, "wall_seconds": run.wall_seconds,
        "bytes": requests * body, "wrk_bytes_read": read,
        "server_user": user_end - user_start, "server_system": system_end - system_start,
        "server_cpu": (user_end - user_start) + (system_end - system_start),
        "client_cpu": run.client_cpu, "socket_errors": run.socket_errors,
        "cpu_busy": {  # per CPU: (task + steal, irq + softirq) seconds in the window
            cpu: [busy[cpu][0] - busy_start[cpu][0], busy[cpu][1] - busy_start[cpu][1]]
            for cpu in busy if cpu in busy_start
        },
    }


def run_cell(name: str, workload: Workload, directory: Path, files: dict[str, bytes],
             args: argparse.Namespace) -> dict[str, Any]:
    server = StaticServer(name, directory)
    try:
        server.wait_ready()
        checked = check(server.port, workload, files)
        if not checked.get("ok") or "skipped" in checked:
            result = checked
        else:
            result = run_wrk(server, workload, checked["headers"], args.wrk_duration,
                             warmup=not args.quick)
            result["keep_alive"] = checked["keep_alive"]
            result["headers"] = checked["headers"]
            result["response_fields"] = checked["response_fields"]
        return server.outcome(result)
    finally:
        server.stop()


def derive(result: dict[str, Any], workload: Workload) -> None:
    """Throughput, server CPU per request or per MB, CPU shares, client-bound."""
    if not result.get("ok") or "skipped" in result:
        return
    seconds = result["seconds"]
    if workload.per_mb:
        result["value"] = result["bytes"] / seconds / 1e6
        per = result["bytes"] / 1e6  # server CPU per MB
    else:
        result["value"] = result["messages"] / seconds
        per = result["messages"]
    result["server_us_per_unit"] = result["server_cpu"] / per * 1e6
    result["server_user_us"] = result["server_user"] / per * 1e6
    result["server_system_us"] = result["server_system"] / per * 1e6
    window = result["wall_seconds"]
    result["server_load"] = result["server_cpu"] / seconds
    result["client_load"] = result["client_cpu"] / window
    busy = result["cpu_busy"].get(f"cpu{SERVER_CPU}")
    if busy is not None:
        result["cpu0_others"] = max(0.0, busy[0] - result["server_cpu"]) / window
        result["cpu0_irq"] = busy[1] / window
    result["client_bound"] = (
        result["client_load"] >= CLIENT_BOUND and result["server_load"] < CLIENT_BOUND
    )


# -- report ------------------------------------------------------------------------------


def whole(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def table(cells: list[dict[str, Any]], workloads: list[str], servers: list[str]) -> str:
    out: list[str] = []
    for name in workloads:
        workload = WORKLOADS[name]
        by_server: dict[str, list[dict[str, Any]]] = {s: [] for s in servers}
        for cell in cells:
            if cell["workload"] == name and cell["server"] in by_server:
                by_server[cell["server"]].append(cell)
        if not any(by_server.values()):
            continue

        def ratio(numerator: str, denominator: str,
                  by: dict[str, list[dict[str, Any]]] = by_server) -> str:
            if numerator == denominator:
                return ""
            ratios = [
                a["value"] / b["value"]
                for a in by.get(numerator, []) for b in by.get(denominator, [])
                if a["rep"] == b["rep"] and a.get("value") and b.get("value")
            ]
            return fmt(median(ratios)) if ratios else ""

        per = "MB" if workload.per_mb else "req"
        out.append(f"\n### {name}: {workload.description}\n")
        out.append(
            f"| server | loop | {workload.unit} | longwire ÷ peer | longwire-uvloop ÷ peer "
            f"| of raw bound | server µs/{per} (user+sys) | server CPU | client CPU "
            "| others on CPU 0 | softirq on CPU 0 |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for server in servers:
            results = by_server[server]
            if not results:
                continue
            loop = "/".join(sorted({r["loop"] for r in results if r.get("loop")})) or "?"
            failed = [r for r in results if not r.get("ok")]
            skipped = [r for r in results if "skipped" in r]
            timed = [r for r in results if "value" in r]
            if failed:
                out.append(f"| {server} | {loop} | FAILED: {failed[0]['error'][:160]} |")
                continue
            if skipped and not timed:
                out.append(f"| {server} | {loop} | n/a: {skipped[0]['skipped']} |")
                continue
            value = median([r["value"] for r in timed])
            us = median([r["server_us_per_unit"] for r in timed])
            user = median([r["server_user_us"] for r in timed])
            system = median([r["server_system_us"] for r in timed])
            server_load = median([r["server_load"] for r in timed])
            client_load = median([r["client_load"] for r in timed])
            others = median([r["cpu0_others"] for r in timed if "cpu0_others" in r])
            others_text = "" if others is None else f"{others:.0%}"
            irq = median([r["cpu0_irq"] for r in timed if "cpu0_irq" in r])
            irq_text = "" if irq is None else f"{irq:.0%}"
            mark = " †" if sum(r["client_bound"] for r in timed) * 2 > len(timed) else ""
            if not all(r.get("keep_alive", True) for r in timed):
                mark += " (closes after each response)"
            out.append(
                f"| {server} | {loop} | {fmt(value)}{mark} | {ratio('longwire', server)} "
                f"| {ratio('longwire-uvloop', server)} "
                f"| {'' if server == 'raw' else ratio(server, 'raw')} "
                f"| {fmt(us)} ({whole(user)}+{whole(system)}) | {server_load:.0%} "
                f"| {client_load:.0%} | {others_text} | {irq_text} |"
            )
    out.append(
        "\nMedians over repetitions; ratios are medians of per-repetition ratios "
        "(longwire ÷ peer > 1: longwire faster). µs/req or µs/MB: the server's CPU "
        "time (all threads, user+system) over the window divided by the requests or MB "
        "answered. † client-bound (wrk ≥ 90 % CPU, server below): the throughput is "
        "wrk's ceiling; compare the server's µs/req or µs/MB. \"others on CPU 0\": "
        "the share of the server's CPU that other processes (and other guests: steal) "
        "took; \"softirq\": interrupt time there, mostly the loopback network work of "
        "both ends, which no process is charged for."
    )
    return "\n".join(out)


def all_versions() -> dict[str, str]:
    found = versions(["longwire"])
    for name in ["starlette", "anyio"]:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def select(requested: list[str] | None, known: dict[str, Any], default: list[str]) -> list[str]:
    if not requested:
        return default
    unknown = [item for item in requested if item not in known]
    if unknown:
        raise SystemExit(f"unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return list(dict.fromkeys(requested))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workloads", nargs="+", metavar="W")
    parser.add_argument("--servers", nargs="+", metavar="S")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--duration", type=int, help="timed window, whole s (1-10; default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run: one repetition, 1 s windows, no warm-up")
    parser.add_argument("--output", type=Path,
                        help="JSON file (default bench/results/static-<ts>.json)")
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 1 if args.quick else 3
    args.wrk_duration = min(max(1, args.duration), 10)  # wrk counts whole seconds
    return args


def timed_status(result: dict[str, Any], workload: Workload) -> str:
    per = "MB" if workload.per_mb else "req"
    return (f"{fmt(result['value'])} {workload.unit}, server "
            f"{fmt(result['server_us_per_unit'])} µs/{per}, cpu server "
            f"{result['server_load']:.0%} client {result['client_load']:.0%}")


def main() -> int:
    args = parse_args()
    workloads = select(args.workloads, WORKLOADS, list(WORKLOADS))
    servers = select(args.servers, PEERS, DEFAULT_SERVERS)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    run = Run(datetime.datetime.now())
    load = os.getloadavg()
    print(f"# static-file benchmark {run.started:%Y-%m-%d %H:%M}, repeat {args.repeat}, "
          f"window {args.wrk_duration} s{', quick' if args.quick else ''}; "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="longwire-static-bench-") as temporary:
        directory = Path(temporary)
        files = make_site(directory)
        for rep in range(args.repeat):
            for workload_name in workloads:
                workload = WORKLOADS[workload_name]
                for server in run.order(servers, rep):
                    result = run.cell(
                        server, partial(run_cell, server, workload, directory, files, args),
                        partial(derive, workload=workload), rep, workload_name,
                    )
                    if result is not None:
                        line = status(result, partial(timed_status, workload=workload))
                        print(f"  rep {rep + 1} {workload_name:13} {server:16} {line}",
                              flush=True)
    record = run.record(args)
    record["machine"]["load_average_before"] = load
    tables = table(run.cells, workloads, run.shown(servers))
    return run.finish(tables, args.output, "static-", {
        **record, "versions": all_versions(),
        "files": {SMALL_NAME: SMALL_SIZE, LARGE_NAME: LARGE_SIZE},
        "settings": {s: PEERS[s].settings for s in servers},
    })


if __name__ == "__main__":
    sys.exit(main())
