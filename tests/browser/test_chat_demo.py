"""The demo that ``longwire serve`` runs with no APP: a chat on the hub, in Chromium.

Two people chat in the lobby (one over WebSocket, one forced to long polling),
see each other online and typing, and a late joiner over SSE gets the history.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_testing import BrowserThread, console_errors
from playwright.async_api import BrowserContext, Page, expect

from longwire._demo_app import make_app
from longwire.aio import Server, ServerConfig

pytestmark = pytest.mark.browser

CONFIG = ServerConfig(access_log=False)
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    with BrowserThread() as thread:
        yield thread


async def join(page: Page, name: str, room: str = "lobby") -> None:
    await expect(page.get_by_role("dialog")).to_be_visible()
    await page.get_by_label("Your name", exact=True).fill(name)
    await page.get_by_label("Room", exact=True).fill(room)
    await page.get_by_role("button", name="Join").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    await expect(page.get_by_label("Message", exact=True)).to_be_enabled()


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_label("Message", exact=True).press("Enter")


def test_two_people_chat(browser: BrowserThread) -> None:
    async def main(context: BrowserContext) -> None:
        expect.set_options(timeout=WAIT_MS)
        app = make_app()
        async with Server(app, port=0, config=CONFIG) as server:
            base = f"http://127.0.0.1:{server.port}"
            ada, bob, cleo = [await context.new_page() for _ in range(3)]
            errors = [console_errors(page) for page in (ada, bob, cleo)]
            try:
                await ada.goto(base + "/")
                await expect(ada).to_have_title("longwire chat")
                await join(ada, "Ada")
                await expect(ada.locator("#transport")).to_have_text("websocket")
                await expect(ada.locator("#room-title")).to_have_text("# lobby")
                await say(ada, "Hello from Ada")
                ada_messages = ada.locator("#messages .msg")
                await expect(ada_messages).to_have_count(1)
                await expect(ada_messages.first).to_have_class("msg mine")

                await bob.goto(base + "/?transport=polling")
                await join(bob, "Bob")
                await expect(bob.locator("#transport")).to_have_text("polling")
                bob_messages = bob.locator("#messages .msg")
                # History: what was said before Bob came.
                await expect(bob_messages).to_have_count(1)
                await expect(bob_messages.first.locator(".sender")).to_have_text("Ada")
                await expect(bob_messages.first.locator(".text")).to_have_text("Hello from Ada")
                for page in (ada, bob):  # presence, both ways
                    await expect(page.locator("#online li")).to_have_count(2)
                    await expect(page.locator("#online")).to_contain_text("Ada")
                    await expect(page.locator("#online")).to_contain_text("Bob")
                await expect(bob.locator("#online li", has_text="Bob")).to_contain_text("(you)")

                # Typing shows on the other page, and goes with the message.
                await bob.get_by_label("Message", exact=True).press_sequentially("Hi Ada")
                await expect(ada.locator("#typing")).to_have_text("Bob is typing…")
                await bob.get_by_label("Message", exact=True).press("Enter")
                await expect(ada_messages).to_have_count(2)
                await expect(ada.locator("#typing")).to_have_text("")
                await expect(ada_messages.nth(1).locator(".sender")).to_have_text("Bob")
                await expect(ada_messages.nth(1).locator(".text")).to_have_text("Hi Ada")
                await expect(bob_messages).to_have_count(2)
                await expect(bob_messages.nth(1)).to_have_class("msg mine")
                await say(ada, "<b>not bold</b>")  # text, never HTML
                await expect(bob_messages.nth(2).locator(".text")).to_have_text("<b>not bold</b>")

                # A late joiner, over SSE, gets the history.
                await cleo.goto(base + "/?transport=sse")
                await join(cleo, "Cleo")
                await expect(cleo.locator("#transport")).to_have_text("sse")
                await expect(cleo.locator("#messages .msg .text")).to_have_text(
                    ["Hello from Ada", "Hi Ada", "<b>not bold</b>"]
                )
                await expect(ada.locator("#online li")).to_have_count(3)

                # Another room: its own messages and members.
                await cleo.get_by_label("New room").fill("Side Room")
                await cleo.get_by_role("button", name="Create room").click()
                await expect(cleo.locator("#room-title")).to_have_text("# side-room")
                await expect(cleo.locator("#messages .msg")).to_have_count(0)
                await expect(cleo.locator("#online li")).to_have_count(1)
                await expect(ada.locator("#online li")).to_have_count(2)  # Cleo left the lobby
                await say(cleo, "anyone here?")
                await expect(cleo.locator("#messages .msg")).to_have_count(1)
                await expect(ada_messages).to_have_count(3)
            finally:
                for page in (ada, bob, cleo):
                    await page.close()
        assert [e for page_errors in errors for e in page_errors] == []

    browser.run(main, timeout=60)


def test_old_echo_page_still_served(browser: BrowserThread) -> None:
    async def main(context: BrowserContext) -> None:
        async with Server(make_app(), port=0, config=CONFIG) as server:
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/echo.html")
            await expect(page).to_have_title("longwire demo: WebSocket echo")
            await expect(page.locator("#state")).to_have_text("open", timeout=WAIT_MS)
            await page.close()

    browser.run(main)
