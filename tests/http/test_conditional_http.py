"""Conditional requests over real sockets (RFC 9110 §13): static files, dynamic
responses with validators, and ``check_preconditions`` in a state-changing handler.

Each case is written from the RFC's text (§13.1.1-§13.1.4 for the fields,
§13.2.2 for their order). curl sends most of them; raw sockets check that a 304
carries no body, no Content-Length and no Content-Type.
"""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest
from http_testing import (
    OLD,
    OLD_HTTP_DATE,
    RawResponse,
    Reply,
    curl,
    exchange,
    get,
    open_raw,
    read_response,
    request,
    run,
    serve,
    url,
    write,
)

from longwire.aio import Server
from longwire.app import App, HTTPError, Request, Response
from longwire.app._file_response import check_preconditions

PAGE = b"<p>a page</p>\n" * 10
BEFORE = email.utils.formatdate(OLD - 86400, usegmt=True)  # a day before Last-Modified
JUST_BEFORE = email.utils.formatdate(OLD - 1, usegmt=True)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write(tmp_path / "page.html", PAGE)
    write(tmp_path / "big.bin", bytes(range(256)) * 1000)  # over SMALL_FILE
    return tmp_path


def static_app(root: Path) -> App:
    app = App()
    app.static("/", root)
    return app


async def file_etag(server: Server, path: str = "/page.html") -> str:
    response = await get(server.port, path)
    etag = response.header("etag")
    assert etag is not None
    assert etag.startswith('"'), etag  # strong: the file is old
    return etag


async def curl_with(server: Server, path: str, *fields: str) -> Reply:
    """``curl`` GET with the header ``fields`` ("Name: value")."""
    args = [arg for value in fields for arg in ("-H", value)]
    return await curl(*args, url(server, path))


def assert_not_modified(reply: Reply | RawResponse, etag: str | None) -> None:
    """A 304 as RFC 9110 §15.4.5 wants it: validators and caching fields, no content."""
    assert reply.status == 304, reply
    names = reply.names()
    assert reply.body == b""
    assert "content-length" not in names
    assert "content-type" not in names
    assert "transfer-encoding" not in names
    assert "date" in names
    if etag is not None:
        assert reply.header("etag") == etag


# If-None-Match


def test_if_none_match_that_matches_is_304_without_content(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            etag = await file_etag(server)
            reply = await curl_with(server, "/page.html", f"If-None-Match: {etag}")
            assert_not_modified(reply, etag)
            assert reply.header("cache-control") == "no-cache"
            assert reply.header("server") == "longwire"
            assert "accept-ranges" not in reply.names()
            # Last-Modified is "useful if the response does not have an ETag": it has.
            assert "last-modified" not in reply.names()

            # On the wire: nothing after the head; the next response follows at once.
            async with open_raw(server.port) as (reader, writer):
                for target in ("/page.html", "/big.bin"):
                    tag = await file_etag(server, target)
                    writer.write(
                        request("GET", target, [("If-None-Match", tag)])
                        + request("HEAD", target, [("If-None-Match", tag)])
                        + request("GET", target)
                    )
                    for _ in range(2):
                        response = await read_response(reader)
                        assert_not_modified(response, tag)
                        assert not response.head.endswith(b"\r\n\r\n\r\n")
                    after = await read_response(reader)
                    assert after.status == 200
                    assert after.body == (site / target[1:]).read_bytes()

    run(main)


def test_if_none_match_forms(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            etag = await file_etag(server)
            cases = [
                (etag, 304),
                (f"W/{etag}", 304),  # §13.1.2: weak comparison
                (f'"other", W/"x", {etag}', 304),  # a list
                (f" , ,{etag},", 304),  # empty list elements are accepted (§5.6.1.2)
                ("*", 304),  # any current representation
                ('"other", "x"', 200),
                (etag.strip('"'), 200),  # not an entity-tag: the condition is true
                (etag[:-2] + '"', 200),
            ]
            for value, status in cases:
                reply = await curl_with(server, "/page.html", f"If-None-Match: {value}")
                assert reply.status == status, (value, reply.status)
                assert reply.body == (b"" if status == 304 else PAGE)
            # Two field lines make one list (§5.3).
            two = await get(
                server.port, "/page.html", ("If-None-Match", '"x"'), ("If-None-Match", etag)
            )
            assert two.status == 304

    run(main)


# If-Modified-Since


def test_if_modified_since(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            etag = await file_etag(server)
            recent = email.utils.formatdate(time.time() - 60, usegmt=True)
            tomorrow = email.utils.formatdate(time.time() + 86400, usegmt=True)
            cases = [
                (OLD_HTTP_DATE, 304),  # modified at that very second: not since
                ("Sunday, 13-Sep-20 12:26:40 GMT", 304),  # rfc850-date (§5.6.7)
                ("Sun Sep 13 12:26:40 2020", 304),  # asctime-date
                (recent, 304),
                (JUST_BEFORE, 200),  # modified one second after it
                (BEFORE, 200),
                ("yesterday", 200),  # not a date: ignored
                (tomorrow, 200),  # later than the server's clock: ignored
                (f"{OLD_HTTP_DATE}, {OLD_HTTP_DATE}", 200),  # a list: ignored (§13.1.3)
            ]
            for value, status in cases:
                reply = await curl_with(server, "/page.html", f"If-Modified-Since: {value}")
                assert reply.status == status, (value, reply.status)
                if status == 304:
                    assert_not_modified(reply, etag)
            # curl's own -z sends the same field.
            assert (await curl("-z", OLD_HTTP_DATE, url(server, "/page.html"))).status == 304
            assert (await curl("-z", BEFORE, url(server, "/page.html"))).body == PAGE

            # §13.1.3: "A recipient MUST ignore If-Modified-Since if the request
            # contains an If-None-Match header field".
            ignored = await curl_with(
                server, "/page.html", 'If-None-Match: "other"', f"If-Modified-Since: {recent}"
            )
            assert (ignored.status, ignored.body) == (200, PAGE)
            decided = await curl_with(
                server, "/page.html", f"If-None-Match: {etag}", f"If-Modified-Since: {BEFORE}"
            )
            assert decided.status == 304

    run(main)


# If-Match and If-Unmodified-Since


def test_if_match_and_if_unmodified_since(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            etag = await file_etag(server)
            cases = [
                ([f"If-Match: {etag}"], 200),
                (['If-Match: "a", ' + etag], 200),
                (["If-Match: *"], 200),
                (['If-Match: "nope"'], 412),
                ([f"If-Match: W/{etag}"], 412),  # §13.1.1: strong comparison
                ([f"If-Match: {etag.strip(chr(34))}"], 412),  # malformed: false
                ([f"If-Unmodified-Since: {BEFORE}"], 412),  # modified since then
                ([f"If-Unmodified-Since: {JUST_BEFORE}"], 412),
                ([f"If-Unmodified-Since: {OLD_HTTP_DATE}"], 200),  # "earlier than or equal"
                (["If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT"], 200),
                (["If-Unmodified-Since: not a date"], 200),  # invalid: ignored
                # §13.1.4: ignored when the request has If-Match.
                ([f"If-Match: {etag}", f"If-Unmodified-Since: {BEFORE}"], 200),
                (['If-Match: "nope"', f"If-Unmodified-Since: {OLD_HTTP_DATE}"], 412),
            ]
            for fields, status in cases:
                reply = await curl_with(server, "/page.html", *fields)
                assert reply.status == status, (fields, reply.status)
                if status == 412:
                    assert reply.body == b"Precondition Failed\n"
                    assert reply.header("etag") is None
                else:
                    assert reply.body == PAGE
            head = await exchange(
                server.port, request("HEAD", "/big.bin", [("If-Match", '"x"')]), head_only=True
            )
            assert head.status == 412

    run(main)


def test_the_order_of_rfc9110_13_2_2(site: Path) -> None:
    async def main() -> None:
        async with serve(static_app(site)) as server:
            etag = await file_etag(server)
            cases = [
                # Step 1 (If-Match) comes before step 3 (If-None-Match).
                (['If-Match: "nope"', f"If-None-Match: {etag}"], 412),
                ([f"If-Match: {etag}", f"If-None-Match: {etag}"], 304),
                # Step 2 (If-Unmodified-Since) before step 3.
                ([f"If-Unmodified-Since: {BEFORE}", f"If-None-Match: {etag}"], 412),
                # Step 4 before step 5: a representation not modified is not ranged.
                ([f"If-None-Match: {etag}", "Range: bytes=0-9"], 304),
                ([f"If-Modified-Since: {OLD_HTTP_DATE}", "Range: bytes=0-9"], 304),
                (['If-Match: "nope"', "Range: bytes=0-9"], 412),
                # Every condition true: the Range is honoured.
                ([f"If-Match: {etag}", 'If-None-Match: "x"', "Range: bytes=0-9"], 206),
            ]
            for fields, status in cases:
                reply = await curl_with(server, "/page.html", *fields)
                assert reply.status == status, (fields, reply.status)
                if status == 206:
                    assert reply.body == PAGE[:10]
            # §13.2.1: conditions apply to a response that would be 2xx; a 404 stays one.
            for field in ('If-Match: "x"', "If-None-Match: *", f"If-Unmodified-Since: {BEFORE}"):
                assert (await curl_with(server, "/missing.html", field)).status == 404

    run(main)


# Dynamic responses with validators


def dynamic_app() -> App:
    app = App()

    @app.get("/tagged")
    async def tagged(request: Request) -> Response:
        return Response.text(
            "version one\n",
            headers=[
                ("ETag", '"v1"'),
                ("Cache-Control", "max-age=5"),
                ("Vary", "Accept-Language"),
                ("X-Other", "kept on 200 only"),
            ],
        )

    @app.get("/weak")
    async def weak(request: Request) -> Response:
        return Response.text("weak\n", headers=[("ETag", 'W/"w1"')])

    @app.get("/dated")
    async def dated(request: Request) -> Response:
        return Response.text("dated\n", headers=[("Last-Modified", OLD_HTTP_DATE)])

    @app.get("/created")
    async def created(request: Request) -> Response:
        return Response.text("made\n", status=201, headers=[("ETag", '"c1"')])

    @app.route("/posted", ("POST",))
    async def posted(request: Request) -> Response:
        return Response.text("posted\n", headers=[("ETag", '"p1"')])

    return app


def test_a_dynamic_response_with_an_etag_is_answered_conditionally() -> None:
    async def main() -> None:
        async with serve(dynamic_app()) as server:
            reply = await curl_with(server, "/tagged", 'If-None-Match: "v1"')
            assert_not_modified(reply, '"v1"')
            assert reply.header("cache-control") == "max-age=5"
            assert reply.header("vary") == "Accept-Language"
            assert "x-other" not in reply.names()
            head = await exchange(
                server.port, request("HEAD", "/tagged", [("If-None-Match", '"v1"')])
            )
            assert_not_modified(head, '"v1"')

            for field, status in [
                ('If-None-Match: "v0"', 200),
                ('If-Match: "v1"', 200),
                ('If-Match: "v0"', 412),
                ("If-None-Match: *", 304),
                ("Range: bytes=0-3", 200),  # ranges are for files only
            ]:
                reply = await curl_with(server, "/tagged", field)
                assert reply.status == status, (field, reply.status)
                bodies = {200: b"version one\n", 304: b"", 412: b"Precondition Failed\n"}
                assert reply.body == bodies[status]

            # A weak tag: If-None-Match compares weakly, If-Match strongly.
            assert (await curl_with(server, "/weak", 'If-None-Match: "w1"')).status == 304
            assert (await curl_with(server, "/weak", 'If-None-Match: W/"w1"')).status == 304
            assert (await curl_with(server, "/weak", 'If-Match: W/"w1"')).status == 412

            # Only a 200 to GET or HEAD is touched.
            created = await curl_with(server, "/created", 'If-None-Match: "c1"')
            assert (created.status, created.body) == (201, b"made\n")
            posted = await curl(
                "-X", "POST", "-H", 'If-Match: "nope"', "-d", "x", url(server, "/posted")
            )
            assert (posted.status, posted.body) == (200, b"posted\n")

    run(main)


def test_a_dynamic_response_with_last_modified_is_answered_conditionally() -> None:
    async def main() -> None:
        async with serve(dynamic_app()) as server:
            reply = await curl_with(server, "/dated", f"If-Modified-Since: {OLD_HTTP_DATE}")
            assert_not_modified(reply, None)
            # Without an ETag, the 304 keeps Last-Modified (§15.4.5).
            assert reply.header("last-modified") == OLD_HTTP_DATE
            assert (await curl_with(server, "/dated", f"If-Modified-Since: {BEFORE}")).status == 200
            past = await curl_with(server, "/dated", f"If-Unmodified-Since: {BEFORE}")
            assert past.status == 412
            same = await curl_with(server, "/dated", f"If-Unmodified-Since: {OLD_HTTP_DATE}")
            assert (same.status, same.body) == (200, b"dated\n")
            # No entity tag to match.
            assert (await curl_with(server, "/dated", 'If-Match: "x"')).status == 412

    run(main)


# check_preconditions in a handler


def test_check_preconditions_in_state_changing_handlers() -> None:
    documents: dict[str, tuple[int, bytes]] = {"a": (1, b"first\n")}

    def tag(version: int) -> str:
        return f'"r{version}"'

    app = App()

    @app.route("/docs/{name}", ("GET", "PUT", "DELETE"))
    async def document(request: Request) -> Response:
        name = request.path_params["name"]
        current = documents.get(name)
        etag = None if current is None else tag(current[0])
        check_preconditions(
            request, etag=etag, last_modified=OLD if current else None, exists=current is not None
        )
        if request.method == "GET":
            if current is None:
                raise HTTPError(404)
            return Response(current[1], headers=[("ETag", tag(current[0]))])
        if request.method == "DELETE":
            if current is None:
                raise HTTPError(404)
            del documents[name]
            return Response(b"", 204)
        version = 1 if current is None else current[0] + 1
        documents[name] = (version, await request.body())
        return Response(b"", 201 if current is None else 204, [("ETag", tag(version))])

    async def main() -> None:
        async with serve(app) as server:

            async def send(
                method: str, name: str, *fields: tuple[str, str], body: bytes = b""
            ) -> int:
                target = f"/docs/{name}"
                return (await exchange(server.port, request(method, target, fields, body))).status

            # A lost update is refused: the client edited version 0.
            assert await send("PUT", "a", ("If-Match", '"r0"'), body=b"stale\n") == 412
            assert documents["a"] == (1, b"first\n")
            assert await send("PUT", "a", ("If-Match", '"r1"'), body=b"second\n") == 204
            assert documents["a"] == (2, b"second\n")
            # "If-None-Match: *": create only; the document exists.
            assert await send("PUT", "a", ("If-None-Match", "*"), body=b"x\n") == 412
            assert await send("PUT", "b", ("If-None-Match", "*"), body=b"new\n") == 201
            assert documents["b"] == (1, b"new\n")
            # "If-Match: *": replace only; there is nothing to replace.
            assert await send("PUT", "c", ("If-Match", "*"), body=b"x\n") == 412
            assert "c" not in documents
            # A date: modified (at OLD) after the one given.
            assert await send("PUT", "a", ("If-Unmodified-Since", BEFORE), body=b"x\n") == 412
            assert await send("DELETE", "a", ("If-Match", '"r1"')) == 412
            assert await send("DELETE", "a", ("If-Match", '"r2"')) == 204
            assert "a" not in documents
            # On GET, a matching If-None-Match raised from the handler is a 304.
            reply = await exchange(
                server.port, request("GET", "/docs/b", [("If-None-Match", '"r1"')])
            )
            assert_not_modified(reply, '"r1"')

    run(main)
