"""``longwire serve --workers N``: N worker processes serving one port, under a supervisor.

The supervisor (the process that calls ``supervise``) binds the port, then forks
the workers. Each worker imports the app itself (so a rolling restart picks up
new code) and runs ``serve`` on a socket it inherited; the supervisor never
imports the app and never runs an event loop. It sleeps in ``poll`` on one pipe
per worker (the worker writes ``R`` once it listens, or ``E`` and a message if it
cannot start) and on the wakeup pipe of its signal handlers
(``signal.set_wakeup_fd``), so no signal is lost between two checks.

Sockets, one per *slot* (0 to N - 1), created and kept by the supervisor:

- ``reuse_port=True`` (the default on Linux): N ``SO_REUSEPORT`` sockets on the
  port, each listening; the kernel spreads new connections over them by a hash of
  the address 4-tuple, and each worker accepts on its slot's socket. Because the
  supervisor keeps every slot's socket open, a worker that stops or dies does not
  close its socket: the connections waiting in its accept queue stay there for the
  slot's next worker. (A listening socket closed with connections in its queue
  resets them; with ``net.ipv4.tcp_migrate_req`` at 0, Linux's default, they are
  not moved to the other sockets of the group.)
- ``reuse_port=False``: one socket, listening, shared by every worker (they all
  accept on it; whichever is free takes the connection).

Lifetime: a worker that dies is restarted (after a delay that doubles while it
keeps dying young); SIGTERM or SIGINT stops every worker gracefully; SIGHUP
replaces them one at a time, each old worker stopped only once its replacement
is ready. A worker whose supervisor disappears (``kill -9``) shuts down by itself:
it watches a pipe whose only writer is the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import TYPE_CHECKING

from .._errors import LongwireError
from ._server import _address, _loop_factory, serve

if TYPE_CHECKING:
    from ..app import App
    from ._config import ServerConfig
    from ._server import Server

__all__ = ["MAX_WORKERS", "reuse_port_available", "supervise"]

logger = logging.getLogger("longwire.workers")

MAX_WORKERS = 256
"""More processes than this is a typo, not a deployment: each one is a whole Python."""

# A worker that dies within this many seconds of its start counts as crashing
# right after start: its slot's restart delay doubles, from the first to the
# longest, instead of staying at the first.
_STABLE_AFTER = 10.0
_FIRST_RESTART_DELAY = 0.1
_LONGEST_RESTART_DELAY = 10.0
# On shutdown a worker gets shutdown_timeout to drain, then up to a second to
# cancel handler tasks and the time its app's shutdown hooks take: this margin
# covers the last two before stragglers are killed.
_KILL_MARGIN = 5.0
# After SIGKILL a process is gone at once, unless stuck in the kernel: give up
# waiting for it then rather than hang.
_KILL_WAIT = 5.0
# Wake up at least this often even with nothing to do: a lost SIGCHLD (the wakeup
# pipe is full) delays a restart by this much at worst.
_POLL_INTERVAL = 1.0

_READY = b"R"
_FAILED = b"E"
_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)


def reuse_port_available() -> bool:
    """True where ``SO_REUSEPORT`` balances connections over the sockets (Linux).

    (BSD and macOS have the option, but there the last socket bound gets every
    connection.)
    """
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def supervise(
    load_app: Callable[[], App],
    host: str,
    port: int,
    *,
    workers: int,
    config: ServerConfig,
    reuse_port: bool | None = None,
    uvloop: bool | None = None,
    ready: Callable[[str, int], None] | None = None,
    on_worker_start: Callable[[int], None] | None = None,
    on_worker_exit: Callable[[int], None] | None = None,
) -> None:
    """Serve with ``workers`` processes until SIGTERM or SIGINT (blocking).

    Call it from the main thread of a process that has started no event loop and
    no thread: it forks.

    Args:
        load_app: imports and returns the app; called in each worker, never in
            the supervisor. A ``LongwireError`` it raises is reported as its
            message; any other exception with its traceback.
        host: address to listen on.
        port: port to listen on; 0 picks a free one.
        workers: how many worker processes, 1 to ``MAX_WORKERS``.
        config: the server settings every worker uses.
        reuse_port: one ``SO_REUSEPORT`` socket per worker (True) or one socket
            shared by all (False); None: the first where ``reuse_port_available()``.
        uvloop: the workers' event loop, as for ``run``.
        ready: called in the supervisor with the host and the real port once every
            worker listens, the first time only.
        on_worker_start: called in each new worker process with its slot number
            (0 to ``workers`` - 1; a replacement gets its predecessor's), before
            ``load_app``: the place for per-worker settings.
        on_worker_exit: called in the supervisor with the pid of every worker it
            has reaped, whatever the reason.

    Raises:
        LongwireError: the address cannot be listened on, uvloop is missing,
            ``SO_REUSEPORT`` was asked for where it is not available, or a worker
            could not start the first time (the message is the worker's).
        ValueError: ``workers`` is out of range.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be from 1 to {MAX_WORKERS}, not {workers}")
    if not hasattr(os, "fork"):
        raise LongwireError("several workers need os.fork, which this platform lacks")
    if reuse_port is None:
        reuse_port = reuse_port_available()
    elif reuse_port and not reuse_port_available():
        raise LongwireError("SO_REUSEPORT load balancing is not available on this platform")
    loop_factory = _loop_factory(uvloop)
    sockets = _listen(host, port, count=workers, reuse_port=reuse_port, backlog=config.backlog)
    shared_metrics: str | None = None
    if config.metrics_path is not None and config.metrics_dir is None:
        # A scrape reaches one worker: it answers for all through a shared directory.
        shared_metrics = tempfile.mkdtemp(prefix="longwire-metrics-")
        config = replace(config, metrics_dir=shared_metrics)
        logger.info("workers share their metrics through %s", shared_metrics)
    if config.metrics_dir is not None:
        on_worker_exit = _retiring(config.metrics_dir, on_worker_exit)
    try:
        target = _Target(
            load_app=load_app,
            host=host,
            port=int(sockets[0].getsockname()[1]),
            config=config,
            loop_factory=loop_factory,
            on_worker_start=on_worker_start,
        )
        logger.info(
            "supervisor %d: %d workers on %s, %s; event loop: %s",
            os.getpid(),
            workers,
            _address(host, target.port),
            "one SO_REUSEPORT socket each" if reuse_port else "sharing one listening socket",
            "asyncio (default)" if loop_factory is None else "uvloop",
        )
        slots = [_Slot(index, sockets[index if reuse_port else 0]) for index in range(workers)]
        _Supervisor(target, slots, ready=ready, on_worker_exit=on_worker_exit).run()
    finally:
        for sock in sockets:
            sock.close()
        if shared_metrics is not None:
            shutil.rmtree(shared_metrics, ignore_errors=True)


def _retiring(
    directory: str, on_worker_exit: Callable[[int], None] | None
) -> Callable[[int], None]:
    """``on_worker_exit`` that first folds the reaped worker's counters into the
    directory's retired totals, so counters never go down when a worker is replaced.
    """
    from ..metrics import retire  # noqa: PLC0415

    def worker_exited(pid: int) -> None:
        try:
            retire(directory, pid)
        except OSError as exc:
            logger.error("cannot retire the metrics of worker %d in %s: %s", pid, directory, exc)
        if on_worker_exit is not None:
            on_worker_exit(pid)

    return worker_exited


# The listening sockets.


def _listen(
    host: str, port: int, *, count: int, reuse_port: bool, backlog: int
) -> list[socket.socket]:
    """``count`` listening ``SO_REUSEPORT`` sockets on ``host:port``, or without
    ``reuse_port`` one plain listening socket.

    Raises:
        LongwireError: the address does not resolve or cannot be listened on.
    """
    try:
        family, _, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise LongwireError(
            f"cannot listen on {_address(host, port)}: {(exc.strerror or str(exc)).lower()}"
        ) from None
    sockets: list[socket.socket] = []
    try:
        # First a socket without SO_REUSEPORT: its bind fails if anything listens
        # on the port, where an SO_REUSEPORT socket would silently join another
        # server's group (of the same user) and take a share of its traffic. It
        # also holds the port picked for port 0 while the others bind.
        first = _socket(family, proto, reuse_port=False)
        sockets.append(first)
        first.bind(address)
        if not reuse_port:
            first.listen(backlog)
            return sockets
        address = first.getsockname()
        for _ in range(count):
            sock = _socket(family, proto, reuse_port=True)
            sockets.append(sock)
            sock.bind(address)
            sock.listen(backlog)
        first.close()
        return sockets[1:]
    except OSError as exc:
        for sock in sockets:
            sock.close()
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise LongwireError(f"cannot listen on {_address(host, port)}: {reason}") from None


def _socket(family: int, proto: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        # As asyncio's create_server: rebinding right after a restart works.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except OSError:
        sock.close()
        raise
    return sock


# The supervisor.


@dataclass(slots=True, kw_only=True)
class _Target:
    """What a worker runs."""

    load_app: Callable[[], App]
    host: str
    port: int
    config: ServerConfig
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
    on_worker_start: Callable[[int], None] | None


@dataclass(slots=True, eq=False)
class _Worker:
    """One worker process, as the supervisor sees it."""

    slot: int
    pid: int
    status_fd: int | None  # read end of the pipe the worker reports on; None after EOF
    started: float
    report: bytearray = field(default_factory=bytearray)
    ready: bool = False
    retiring: bool = False  # told to stop by the supervisor: its exit is expected

    @property
    def failure(self) -> str:
        """What the worker said when it could not start, if it said anything."""
        if self.report[:1] != _FAILED:
            return ""
        return self.report[1:].decode("utf-8", "replace").rstrip()


@dataclass(slots=True, eq=False)
class _Slot:
    """A place for one worker: its socket, its worker, and its replacement."""

    index: int
    sock: socket.socket
    worker: _Worker | None = None
    successor: _Worker | None = None  # starting, during a rolling restart
    restart_at: float | None = None  # when to start a worker after one died
    crashes: int = 0  # deaths in a row, each within _STABLE_AFTER of its start


class _Supervisor:
    """The supervision loop: start, watch, restart, roll and stop the workers."""

    def __init__(
        self,
        target: _Target,
        slots: list[_Slot],
        *,
        ready: Callable[[str, int], None] | None,
        on_worker_exit: Callable[[int], None] | None,
    ) -> None:
        self.target = target
        self.slots = slots
        self.ready_callback = ready
        self.on_worker_exit = on_worker_exit
        self.workers: dict[int, _Worker] = {}  # every live worker, by pid
        self.by_fd: dict[int, _Worker] = {}
        self.poller = select.poll()
        self.serving = False  # every slot's first worker has been ready
        self.failure: str | None = None  # why the first start failed
        self.stopping = False
        self.stop_deadline = 0.0
        self.killed_at: float | None = None
        self.rolling: list[_Slot] | None = None  # slots still to replace, during a roll
        self.roll_again = False  # SIGHUP during a roll: another once it is done
        self.wakeup_r, self.wakeup_w = os.pipe()
        # Workers watch this pipe: end of file means the supervisor is gone.
        self.lifeline_r, self.lifeline_w = os.pipe()

    def run(self) -> None:
        """Supervise until every worker has exited after a stop.

        Raises:
            LongwireError: a worker could not start the first time.
        """
        os.set_blocking(self.wakeup_w, False)
        os.set_blocking(self.wakeup_r, False)
        self.poller.register(self.wakeup_r, select.POLLIN)
        try:
            with _signals_to(self.wakeup_w):
                for slot in self.slots:
                    try:
                        slot.worker = self._spawn(slot)
                    except OSError as exc:
                        self.failure = f"cannot start a worker: {exc}"
                        self._stop("a worker could not start")
                        break
                while not (self.stopping and not self.workers):
                    self._step()
        finally:
            for worker in self.workers.values():  # only if something went wrong here
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(worker.pid, signal.SIGKILL)
                    os.waitpid(worker.pid, 0)
            for fd in (self.wakeup_r, self.wakeup_w, self.lifeline_r, self.lifeline_w):
                os.close(fd)
            for fd in list(self.by_fd):
                os.close(fd)
        if self.failure is not None:
            raise LongwireError(self.failure)

    def _step(self) -> None:
        """Wait for something to happen (or the next timer), then deal with it."""
        timeout = _POLL_INTERVAL
        now = time.monotonic()
        for due in self._timers():
            timeout = min(timeout, max(0.0, due - now))
        for fd, _ in self.poller.poll(timeout * 1000):
            if fd == self.wakeup_r:
                continue  # read below, first: signals come before what they caused
            worker = self.by_fd.get(fd)
            if worker is not None:
                self._read_report(worker)
        for signum in self._signals():
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._stop(f"{signal.Signals(signum).name} received")
            elif signum == signal.SIGHUP:
                self._roll()
        self._reap()
        self._fire_timers()

    def _timers(self) -> Iterator[float]:
        if self.stopping:
            yield self.stop_deadline if self.killed_at is None else self.killed_at + _KILL_WAIT
        for slot in self.slots:
            if slot.restart_at is not None:
                yield slot.restart_at

    def _signals(self) -> list[int]:
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.wakeup_r, 512):
                data += chunk
        return list(data)

    # Starting workers.

    def _spawn(self, slot: _Slot, why: str = "") -> _Worker:
        status_r, status_w = os.pipe()
        sys.stdout.flush()  # or the child would write the parent's buffered output again
        sys.stderr.flush()
        # Blocked across fork, so that the child cannot run the supervisor's
        # handlers (which would write into the supervisor's wakeup pipe) before
        # it has put its own in place.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
            if pid == 0:  # the worker
                status = 1
                try:
                    self._become_worker(slot, status_r, mask)
                    status = _run_worker(self.target, slot, status_w, self.lifeline_r)
                except BaseException:
                    with contextlib.suppress(BaseException):
                        traceback.print_exc()
                finally:
                    with contextlib.suppress(BaseException):
                        logging.shutdown()
                        sys.stdout.flush()
                        sys.stderr.flush()
                    # Never return into the supervisor's code, its finally blocks
                    # and its atexit handlers.
                    os._exit(status)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(status_w)
        os.set_blocking(status_r, False)
        worker = _Worker(slot.index, pid, status_r, time.monotonic())
        self.workers[pid] = worker
        self.by_fd[status_r] = worker
        self.poller.register(status_r, select.POLLIN)
        logger.info("worker %d started%s", pid, why)
        return worker

    def _become_worker(self, slot: _Slot, status_r: int, mask: set[int | signal.Signals]) -> None:
        """In the new child: drop the supervisor's signal handling and descriptors."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until serve() takes it over
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Ctrl+C reaches the whole process group: the supervisor passes it on as
        # SIGTERM, and serve() takes SIGINT over once the worker runs. A reload is
        # the supervisor's to do: a SIGHUP sent to the group must not kill workers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for fd in (status_r, self.wakeup_r, self.wakeup_w, self.lifeline_w, *self.by_fd):
            os.close(fd)
        for other in self.slots:
            if other.sock is not slot.sock:
                other.sock.close()

    # What workers say and how they end.

    def _read_report(self, worker: _Worker) -> None:
        fd = worker.status_fd
        if fd is None:
            return
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:  # end of file: the worker has exited (or is exiting)
                self.poller.unregister(fd)
                del self.by_fd[fd]
                os.close(fd)
                worker.status_fd = None
                break
            worker.report += data
        if not worker.ready and worker.report[:1] == _READY:
            self._ready(worker)

    def _ready(self, worker: _Worker) -> None:
        worker.ready = True
        slot = self.slots[worker.slot]
        if slot.successor is worker:
            slot.successor = None
            old, slot.worker = slot.worker, worker
            if old is not None:
                logger.info("worker %d ready, stopping worker %d", worker.pid, old.pid)
                self._retire(old)
            else:
                logger.info("worker %d ready", worker.pid)
            self._roll_on()
            return
        logger.info("worker %d ready", worker.pid)
        if not self.serving and all(s.worker is not None and s.worker.ready for s in self.slots):
            self.serving = True
            logger.info("all %d workers ready", len(self.slots))
            if self.ready_callback is not None:
                self.ready_callback(self.target.host, self.target.port)
            if self.roll_again:
                self.roll_again = False
                self._roll()

    def _reap(self) -> None:
        for worker in list(self.workers.values()):
            try:
                pid, status = os.waitpid(worker.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: the status is lost
                pid, status = worker.pid, 255 << 8
            if pid != 0:
                self._exited(worker, status)

    def _exited(self, worker: _Worker, status: int) -> None:
        del self.workers[worker.pid]
        self._read_report(worker)  # what it wrote just before exiting
        if worker.status_fd is not None:
            self.poller.unregister(worker.status_fd)
            del self.by_fd[worker.status_fd]
            os.close(worker.status_fd)
            worker.status_fd = None
        if self.on_worker_exit is not None:
            try:
                self.on_worker_exit(worker.pid)
            except Exception:
                logger.exception("on_worker_exit(%d) raised", worker.pid)
        how = _describe(status)
        slot = self.slots[worker.slot]
        if worker.retiring or self.stopping:
            logger.info("worker %d exited (%s)", worker.pid, how)
            if slot.worker is worker:
                slot.worker = None
            self._roll_on()
            return
        if slot.successor is worker:
            slot.successor = None
            self._stop_rolling(worker, how)
            if slot.worker is None:  # the worker it was to replace died meanwhile
                delay = self._schedule_restart(slot, worker)
                logger.warning("no worker left in its place: starting one in %.1fs", delay)
            return
        slot.worker = None
        if not self.serving and not worker.ready:
            # The first start failed (bad APP, import error, a startup hook that
            # raised): restarting would fail the same way, again and again.
            logger.info("worker %d exited before it was ready (%s)", worker.pid, how)
            self.failure = worker.failure or (
                f"worker {worker.pid} exited before it was ready ({how})"
            )
            self._stop("a worker could not start")
            return
        if slot.successor is not None:  # it takes the slot once ready
            then = "its replacement is starting"
        else:
            then = f"restarting it in {self._schedule_restart(slot, worker):.1f}s"
        if worker.ready:
            logger.warning("worker %d died (%s): %s", worker.pid, how, then)
        else:
            failure = worker.failure  # last: it may be a traceback
            logger.error(
                "worker %d failed to start (%s): %s%s",
                worker.pid,
                how,
                then,
                f": {failure}" * bool(failure),
            )

    def _schedule_restart(self, slot: _Slot, dead: _Worker) -> float:
        """Start a new worker in ``dead``'s slot after a delay; the delay."""
        if time.monotonic() - dead.started >= _STABLE_AFTER:
            slot.crashes = 1
        else:
            slot.crashes += 1
        delay = min(_FIRST_RESTART_DELAY * 2.0 ** (slot.crashes - 1), _LONGEST_RESTART_DELAY)
        slot.restart_at = time.monotonic() + delay
        return delay

    def _fire_timers(self) -> None:
        now = time.monotonic()
        if self.stopping:
            if self.killed_at is None and now >= self.stop_deadline:
                self._kill_all(now)
            elif self.killed_at is not None and now >= self.killed_at + _KILL_WAIT:
                logger.error(
                    "workers %s did not die: leaving them",
                    ", ".join(str(pid) for pid in self.workers),
                )
                self.workers.clear()
            return
        for slot in self.slots:
            if slot.restart_at is not None and now >= slot.restart_at:
                slot.restart_at = None
                try:
                    slot.worker = self._spawn(slot, " (restart)")
                except OSError as exc:  # out of processes or memory: try again later
                    logger.error("cannot start a worker: %s", exc)
                    slot.restart_at = now + _LONGEST_RESTART_DELAY

    # Stopping.

    def _stop(self, why: str) -> None:
        if self.stopping:
            logger.info("%s: already shutting down", why)
            return
        self.stopping = True
        self.rolling = None
        grace = self.target.config.shutdown_timeout
        self.stop_deadline = time.monotonic() + grace + _KILL_MARGIN
        for slot in self.slots:
            slot.restart_at = None
        logger.info("%s: stopping %s (grace period %.1fs)", why, _workers(self.workers), grace)
        for worker in self.workers.values():
            self._signal(worker, signal.SIGTERM)

    def _kill_all(self, now: float) -> None:
        self.killed_at = now
        logger.warning(
            "killing %s still running %.1fs after SIGTERM",
            _workers(self.workers),
            self.target.config.shutdown_timeout + _KILL_MARGIN,
        )
        for worker in self.workers.values():
            self._signal(worker, signal.SIGKILL)

    def _retire(self, worker: _Worker) -> None:
        worker.retiring = True
        self._signal(worker, signal.SIGTERM)

    @staticmethod
    def _signal(worker: _Worker, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # exited, not reaped yet
            os.kill(worker.pid, signum)

    # Rolling restart (SIGHUP).

    def _roll(self) -> None:
        if self.stopping:
            return
        if not self.serving or self.rolling is not None:
            logger.info("SIGHUP received: a rolling restart will follow")
            self.roll_again = True
            return
        logger.info("SIGHUP received: restarting the %d workers one by one", len(self.slots))
        self.rolling = list(self.slots)
        self._roll_on()

    def _roll_on(self) -> None:
        """Start the next replacement, or see whether the rolling restart is over."""
        if self.rolling is None or self.stopping:
            return
        if any(slot.successor is not None for slot in self.slots):
            return
        while self.rolling:
            slot = self.rolling.pop(0)
            if slot.worker is None:
                continue  # a restart is due: it loads the new code anyway
            try:
                slot.successor = self._spawn(
                    slot, f" (rolling restart: replaces {slot.worker.pid})"
                )
            except OSError as exc:
                logger.error("rolling restart stopped: cannot start a worker: %s", exc)
                self.rolling = None
                self.roll_again = False
            return
        if self._retiring():
            return  # done once the old workers have exited
        self.rolling = None
        logger.info("rolling restart done")
        if self.roll_again:
            self.roll_again = False
            self._roll()

    def _retiring(self) -> bool:
        return any(worker.retiring for worker in self.workers.values())

    def _stop_rolling(self, worker: _Worker, how: str) -> None:
        failure = worker.failure
        logger.error(
            "rolling restart stopped, the running workers keep serving: "
            "worker %d failed to start (%s)%s",
            worker.pid,
            how,
            f": {failure}" * bool(failure),
        )
        self.rolling = None
        self.roll_again = False


def _workers(workers: dict[int, _Worker]) -> str:
    return "1 worker" if len(workers) == 1 else f"{len(workers)} workers"


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python-level handler, so that the signal number reaches the wakeup pipe."""


@contextlib.contextmanager
def _signals_to(fd: int) -> Iterator[None]:
    """Write the numbers of the signals the supervisor handles into ``fd``."""
    previous_fd = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, _ignore) for signum in _HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)


# The worker side.


def _run_worker(target: _Target, slot: _Slot, status_fd: int, lifeline_fd: int) -> int:
    """Load the app and serve it on the slot's socket; the exit status."""
    started = False

    def report(kind: bytes, text: str = "") -> None:
        data = kind + text.encode("utf-8", "replace")
        with contextlib.suppress(BrokenPipeError):  # the supervisor is gone: see _orphaned
            while data:
                data = data[os.write(status_fd, data) :]

    def ready(server: Server) -> None:
        nonlocal started
        started = True
        report(_READY)
        loop = asyncio.get_running_loop()
        loop.add_reader(lifeline_fd, _orphaned, loop, lifeline_fd)

    async def main(app: App) -> None:
        # serve() gives the signals back what they had when it started: ignored,
        # so that once the worker has shut down, a late SIGTERM from the supervisor
        # (after a Ctrl+C the group got) or another Ctrl+C cannot end its clean-up.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        await serve(
            app, target.host, target.port, config=target.config, sock=slot.sock, ready=ready
        )

    try:
        if target.on_worker_start is not None:
            target.on_worker_start(slot.index)
        app = target.load_app()
        with asyncio.Runner(loop_factory=target.loop_factory) as runner:
            runner.run(main(app))
    except LongwireError as exc:
        if started:
            raise
        report(_FAILED, str(exc))
        return 1
    except Exception:
        if started:
            raise
        report(_FAILED, f"the app failed to start:\n{traceback.format_exc().rstrip()}")
        return 1
    return 0


def _orphaned(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """The lifeline pipe's end of file: the supervisor is gone. Stop as if told to."""
    loop.remove_reader(fd)
    logger.warning("the supervisor is gone: shutting down")
    os.kill(os.getpid(), signal.SIGTERM)
