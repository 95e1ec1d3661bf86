"""Headless Chromium for the browser tests, through Playwright's async API.

The browser is the system's ``/usr/bin/chromium`` (Debian package, installed by
``scripts/system-deps.sh``); Playwright's own browser download (``playwright
install``) is never used, so launching always passes ``executable_path``.

Two ways to use it:

- ``chromium()``: an async context manager yielding a launched ``Browser`` on the
  running event loop, for one test that runs its own loop (``run_without_leaks``)
  and starts its longwire ``Server`` in it. Costs a launch (about 1.5 s) per test::

      async def main() -> None:
          async with Server(app, port=0, config=config) as server, chromium() as browser:
              page = await browser.new_page()
              await page.goto(f"http://127.0.0.1:{server.port}/")

      run_without_leaks(main(), timeout=BROWSER_TEST_TIMEOUT)

- ``BrowserThread``: one Chromium for many tests (a module-scoped fixture). It
  owns an event loop in a thread of its own; ``run(test)`` runs the coroutine
  function ``test(context)`` in that loop with a fresh ``BrowserContext`` (its
  own cookies and cache), so the test starts its longwire ``Server`` in the same
  loop as Playwright, and returns its result to the calling (pytest) thread::

      @pytest.fixture(scope="module")
      def browser() -> Iterator[BrowserThread]:
          with BrowserThread() as thread:
              yield thread

      def test_page(browser: BrowserThread) -> None:
          async def main(context: BrowserContext) -> str:
              async with Server(app, port=0, config=config) as server:
                  page = await context.new_page()
                  await page.goto(f"http://127.0.0.1:{server.port}/")
                  return await page.title()

          assert browser.run(main) == "..."

Why the async API, and why a thread for the module-scoped browser:

- Playwright objects belong to the event loop they were made on, and the server
  must run on a loop too. The async API puts both on one loop, so the test awaits
  the browser and the server alike, with no cross-thread calls into the server.
- The sync API runs its own loop on the calling thread (in a greenlet) and refuses
  to start inside a running asyncio loop, so the server would need a thread of its
  own, and the sync API's loop would sit beside the ``asyncio.run`` of the other
  tests in the pytest thread.
- ``asyncio.run`` (hence ``run_without_leaks``) closes its loop at the end of each
  test, taking a browser launched on it along, so a browser shared by several
  tests needs a loop that outlives them: ``BrowserThread``'s. ``run`` still checks
  that the test left no task of its own running (the server's connections).

Chromium's flags (``CHROMIUM_ARGS``): ``--no-sandbox`` because the tests run as
root in a container, where Chromium's sandbox cannot start (Playwright adds it
too, by default); ``--disable-dev-shm-usage`` because a container's ``/dev/shm``
may be tiny (64 MiB in Docker) and Chromium then crashes on big pages;
``--disable-gpu`` since there is none. D-Bus errors Chromium prints on its stderr
(no session bus in a container) are harmless, and Playwright does not show them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    async_playwright,
)

__all__ = [
    "BROWSER_TEST_TIMEOUT",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "LAUNCH_TIMEOUT",
    "BrowserThread",
    "chromium",
    "console_errors",
]

CHROMIUM = "/usr/bin/chromium"
"""The browser: Debian's ``chromium`` package (``scripts/system-deps.sh``)."""

CHROMIUM_ARGS: tuple[str, ...] = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")
"""Flags for Chromium as root in a container (see the module documentation)."""

LAUNCH_TIMEOUT = 30.0
"""Seconds for Chromium to start (it takes about 1.5 s here)."""

BROWSER_TEST_TIMEOUT = 20.0
"""Seconds for one browser test's coroutine, by default."""

T = TypeVar("T")


def _check_installed() -> None:
    # `make test` installs chromium: its absence is a failure, not a skip.
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/system-deps.sh")


@asynccontextmanager
async def chromium(*, args: Sequence[str] = (), **launch_options: Any) -> AsyncIterator[Browser]:
    """A headless Chromium on the running event loop, closed on exit.

    Args:
        args: more command-line flags, after ``CHROMIUM_ARGS``.
        launch_options: more keyword arguments for Playwright's
            ``BrowserType.launch`` (``timeout`` in milliseconds, ``env``, ...).
    """
    _check_installed()
    launch_options.setdefault("timeout", LAUNCH_TIMEOUT * 1000)
    async with async_playwright() as playwright:
        browser = await _launch(playwright, [*CHROMIUM_ARGS, *args], launch_options)
        try:
            yield browser
        finally:
            await browser.close()


async def _launch(playwright: Playwright, args: list[str], options: dict[str, Any]) -> Browser:
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=args, **options
    )


def console_errors(page: Page) -> list[str]:
    """A list that fills with ``page``'s uncaught exceptions and console errors.

    Call it before the page loads; assert it is empty at the end of the test.
    """
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console.error: {message.text}")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return errors


class BrowserThread:
    """One headless Chromium, on an event loop of its own in a thread, for many tests.

    Use it as a context manager (``with BrowserThread() as browser:``) whose exit
    closes Chromium and the loop; ``run(test)`` runs one test in the loop.

    Args:
        args: more command-line flags for Chromium, after ``CHROMIUM_ARGS``.
        launch_options: more keyword arguments for Playwright's ``launch``.
    """

    def __init__(self, *, args: Sequence[str] = (), **launch_options: Any) -> None:
        self._args = tuple(args)
        self._launch_options = launch_options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="chromium-loop", daemon=True
        )
        self._stack: AsyncExitStack | None = None
        self._browser: Browser | None = None

    @property
    def browser(self) -> Browser:
        """The launched ``Browser`` (use it only from coroutines given to ``run``)."""
        if self._browser is None:
            raise RuntimeError("BrowserThread is not started: use it in a `with` block")
        return self._browser

    def __enter__(self) -> BrowserThread:
        self._thread.start()
        try:
            self._browser = self._call(self._start(), LAUNCH_TIMEOUT + 5)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def _start(self) -> Browser:
        self._stack = AsyncExitStack()
        return await self._stack.enter_async_context(
            chromium(args=self._args, **self._launch_options)
        )

    def run(
        self,
        test: Callable[[BrowserContext], Awaitable[T]],
        *,
        timeout: float = BROWSER_TEST_TIMEOUT,
    ) -> T:
        """Run ``await test(context)`` on the browser's loop and return its result.

        ``context`` is a new ``BrowserContext``, closed afterwards. The test fails
        (``TimeoutError``) after ``timeout`` seconds, and (``AssertionError``) if
        a task it started is still running once it returned.
        """
        return self._call(self._run(test, timeout), timeout + 10)

    async def _run(self, test: Callable[[BrowserContext], Awaitable[T]], timeout: float) -> T:
        before = asyncio.all_tasks()
        context = await self.browser.new_context()
        try:
            async with asyncio.timeout(timeout):
                result = await test(context)
        finally:
            await context.close()
        # Tasks the test started (a server's connections) must end with it;
        # done callbacks and closing transports may need a few loop turns.
        current = asyncio.current_task()
        for _ in range(50):
            left = [t for t in asyncio.all_tasks() - before if t is not current]
            if not left:
                return result
            await asyncio.sleep(0.01)
        for task in left:
            task.cancel()
        raise AssertionError(f"tasks left running: {left}")

    def close(self) -> None:
        """Close Chromium, Playwright and the loop (``__exit__`` calls it)."""
        if not self._thread.is_alive():
            return
        try:
            if self._stack is not None:
                self._call(self._stack.aclose(), LAUNCH_TIMEOUT)
            self._call(self._loop.shutdown_asyncgens(), 5)
        finally:
            self._stack = None
            self._browser = None
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise
