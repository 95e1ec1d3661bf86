"""multipart/form-data: the push parser, boundaries, filenames, limits and the collector."""

import asyncio
import io
import tracemalloc

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from longwire.app._forms import (
    FormError,
    FormTooLargeError,
    MalformedFormError,
    UnsupportedFormTypeError,
)
from longwire.app._multipart import (
    DEFAULT_MAX_MEMORY_SIZE,
    DEFAULT_SPOOL_THRESHOLD,
    MultipartCollector,
    MultipartLimits,
    MultipartParser,
    PartData,
    PartEnded,
    PartStarted,
    UploadFile,
    parse_boundary,
    safe_filename,
)

# Captured from Chromium 126 submitting <form enctype="multipart/form-data"> with a
# text input, two checkboxes named "tags[]", an empty file input and a file input.
CHROME_CONTENT_TYPE = "multipart/form-data; boundary=----WebKitFormBoundaryePkpFF7tjBAqx29L"
CHROME_BODY = (
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="title"\r\n'
    b"\r\n"
    b"Caf\xc3\xa9 & cr\xc3\xa8me\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="tags[]"\r\n'
    b"\r\n"
    b"a\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="tags[]"\r\n'
    b"\r\n"
    b"b\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="empty"; filename=""\r\n'
    b"Content-Type: application/octet-stream\r\n"
    b"\r\n"
    b"\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
    b'Content-Disposition: form-data; name="upload"; '
    b'filename="r\xc3\xa9sum\xc3\xa9 %22v2%22.txt"\r\n'
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"line 1\r\nline 2\r\n\r\n"
    b"------WebKitFormBoundaryePkpFF7tjBAqx29L--\r\n"
)


def feed_all(parser, chunks, *, end=True):
    """Feed every chunk, then end (unless told not to); the events."""
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    if end:
        parser.end()
    return events


def parse(body, boundary=b"b", *, limits=None, chunks=None):
    """Feed ``body`` (in ``chunks`` if given) and end; the events, data merged per part."""
    parser = MultipartParser(boundary, limits=limits)
    events = []
    for chunk in chunks or [body]:
        events += parser.feed(chunk)
    parser.end()
    return merge(events)


def merge(events):
    merged = []
    for event in events:
        if isinstance(event, PartData):
            assert event.data, "no empty PartData"
            if merged and isinstance(merged[-1], PartData):
                merged[-1] = PartData(data=merged[-1].data + event.data)
                continue
        merged.append(event)
    return merged


def simple(events):
    """Events as comparable tuples: ("start", name, filename, type) / ("data", b) / ("end",)."""
    out = []
    for event in events:
        if isinstance(event, PartStarted):
            out.append(("start", event.name, event.filename, event.content_type))
        elif isinstance(event, PartData):
            out.append(("data", event.data))
        else:
            out.append(("end",))
    return out


def part(name, content, *, filename=None, headers=b"", boundary=b"b"):
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return (
        b"--" + boundary + b"\r\n" + disposition + b"\r\n" + headers + b"\r\n" + content + b"\r\n"
    )


def close(boundary=b"b"):
    return b"--" + boundary + b"--\r\n"


# Real clients


def test_chromium_form():
    boundary = parse_boundary(CHROME_CONTENT_TYPE)
    assert boundary == b"----WebKitFormBoundaryePkpFF7tjBAqx29L"
    assert simple(parse(CHROME_BODY, boundary)) == [
        ("start", "title", None, "text/plain"),
        ("data", "Café & crème".encode()),
        ("end",),
        ("start", "tags[]", None, "text/plain"),
        ("data", b"a"),
        ("end",),
        ("start", "tags[]", None, "text/plain"),
        ("data", b"b"),
        ("end",),
        ("start", "empty", "", "application/octet-stream"),
        ("end",),
        # Browsers write '"' as %22 (HTML form-data encoding); it is left as sent.
        ("start", "upload", "résumé %22v2%22.txt", "text/plain"),
        ("data", b"line 1\r\nline 2\r\n"),
        ("end",),
    ]


def test_chromium_form_collected():
    collector = MultipartCollector(parse_boundary(CHROME_CONTENT_TYPE))
    collector.feed(CHROME_BODY)
    form = collector.end()
    assert form["title"] == "Café & crème"
    assert form.getall("tags") == ["a", "b"]
    empty = form["empty"]
    assert isinstance(empty, UploadFile)
    assert (empty.filename, empty.safe_filename, empty.size, empty.read()) == ("", None, 0, b"")
    upload = form["upload"]
    assert isinstance(upload, UploadFile)
    assert upload.safe_filename == "résumé %22v2%22.txt"
    assert upload.content_type == "text/plain"
    assert upload.headers["content-type"] == "text/plain"
    assert upload.read() == b"line 1\r\nline 2\r\n"
    assert upload.in_memory
    assert "size=16" in repr(upload)
    collector.close()


def test_firefox_and_curl_boundaries():
    for content_type in (
        "multipart/form-data; boundary=----geckoformboundary5c1e8d9e3b0f9a1d2c3b4a5968778695",
        "multipart/form-data; boundary=---------------------------9051914041544843365972754266",
        "multipart/form-data; boundary=------------------------d74496d66958873e",
    ):
        boundary = parse_boundary(content_type)
        body = part(b"a", b"1", boundary=boundary) + close(boundary)
        assert simple(parse(body, boundary))[1] == ("data", b"1")


def test_aiohttp_client_interop():
    import aiohttp

    async def encode():
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("text", "héllo")
        form.add_field("tags[]", "a")
        form.add_field("tags[]", "b")
        form.add_field(
            "file",
            io.BytesIO(b"\r\n--x\r\n"),
            filename='r\xe9sum\xe9 "1".pdf',
            content_type="application/pdf",
        )
        writer = form()
        return writer.headers["Content-Type"], await writer.as_bytes()

    content_type, body = asyncio.run(encode())
    collector = MultipartCollector(parse_boundary(content_type))
    for start in range(0, len(body), 7):
        collector.feed(body[start : start + 7])
    form = collector.end()
    assert form["text"] == "héllo"
    assert form.getall("tags") == ["a", "b"]
    upload = form["file"]
    assert isinstance(upload, UploadFile)
    assert upload.filename == 'résumé "1".pdf'  # from a quoted-pair escape
    assert upload.content_type == "application/pdf"
    assert upload.read() == b"\r\n--x\r\n"


# RFC examples


def test_rfc2046_example_with_preamble_epilogue_and_quoted_boundary():
    # RFC 2046 §5.1.1's example, with the Content-Disposition RFC 7578 requires added.
    content_type = 'multipart/form-data; boundary="simple boundary"'
    body = (
        b"This is the preamble.  It is to be ignored, though it\r\n"
        b"is a handy place for composition agents to include an\r\n"
        b"explanatory note to non-MIME conformant readers.\r\n"
        b"\r\n"
        b"--simple boundary\r\n"
        b'Content-Disposition: form-data; name="implicit"\r\n'
        b"\r\n"
        b"This is implicitly typed plain US-ASCII text.\r\n"
        b"It does NOT end with a linebreak.\r\n"
        b"--simple boundary\r\n"
        b"Content-type: text/plain; charset=us-ascii\r\n"
        b'Content-Disposition: form-data; name="explicit"\r\n'
        b"\r\n"
        b"This is explicitly typed plain US-ASCII text.\r\n"
        b"It DOES end with a linebreak.\r\n"
        b"\r\n"
        b"--simple boundary--\r\n"
        b"\r\n"
        b"This is the epilogue.  It is also to be ignored.\r\n"
    )
    boundary = parse_boundary(content_type)
    assert boundary == b"simple boundary"
    assert simple(parse(body, boundary)) == [
        ("start", "implicit", None, "text/plain"),
        (
            "data",
            b"This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak.",
        ),
        ("end",),
        ("start", "explicit", None, "text/plain; charset=us-ascii"),
        (
            "data",
            b"This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n",
        ),
        ("end",),
    ]


def test_rfc7578_charset_field():
    # RFC 7578 §4.6: a "_charset_" field names the charset of fields without one.
    body = (
        part(b"_charset_", b"iso-8859-1")
        + part(b"field1", b"caf\xe9")
        + part(b"field2", b"caf\xc3\xa9", headers=b"Content-Type: text/plain; charset=UTF-8\r\n")
        + close()
    )
    collector = MultipartCollector(b"b")
    collector.feed(body)
    form = collector.end()
    assert form["field1"] == "café"
    assert form["field2"] == "café"


@pytest.mark.parametrize(
    ("parameters", "filename"),
    [
        # RFC 6266 §5 examples, as form-data
        (b"filename*= UTF-8''%e2%82%ac%20rates", "€ rates"),
        (b"filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates", "€ rates"),
        # RFC 8187 §3.2.2 examples
        (b"filename*=iso-8859-1'en'%A3%20rates", "£ rates"),
        (b"filename*=UTF-8''%c2%a3%20and%20%e2%82%ac%20rates", "£ and € rates"),
        # Quoted strings (RFC 9110 §5.6.4)
        (b'filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
        (b'filename="back\\\\slash.txt"', "back\\slash.txt"),
        (b'filename="semi;colon=.txt"', "semi;colon=.txt"),
        # An old IE full path: backslashes that are not quoted-pairs stay
        (b'filename="C:\\Users\\ada\\cv.pdf"', "C:\\Users\\ada\\cv.pdf"),
        # Token (unquoted) form, and spaces around "="
        (b"filename=plain.txt", "plain.txt"),
        (b"filename = spaced.txt ", "spaced.txt"),
        # Raw UTF-8, as browsers send; raw latin-1 from older clients
        (b'filename="\xe6\x97\xa5\xe6\x9c\xac.txt"', "日本.txt"),
        (b'filename="caf\xe9.txt"', "café.txt"),
    ],
)
def test_content_disposition_filenames(parameters, filename):
    body = (
        b'--b\r\nContent-Disposition: form-data; name="f"; '
        + parameters
        + b"\r\n\r\nx\r\n"
        + close()
    )
    started = parse(body)[0]
    assert isinstance(started, PartStarted)
    assert started.filename == filename
    assert started.is_file


def test_header_details():
    body = (
        b"--b\r\n"
        b"content-disposition: Form-Data ; NAME=field ;\r\n"  # case, spaces, trailing ";"
        b"X-Extra: one\r\n"
        b"  two\r\n"  # obs-fold (RFC 5322 §2.2.3)
        b"\r\n"
        b"value\r\n" + close()
    )
    started = parse(body)[0]
    assert (started.name, started.filename, started.is_file) == ("field", None, False)
    assert started.headers.get("x-extra") == "one two"


def test_transport_padding_empty_parts_and_no_final_crlf():
    body = (
        b"--b \t\r\n"  # transport padding after the boundary (RFC 2046 §5.1.1)
        b'Content-Disposition: form-data; name="a"\r\n\r\n'
        b"\r\n--b\r\n"  # empty content
        b'Content-Disposition: form-data; name="b"\r\n\r\n'
        b"--b\r\n"  # "--b" not after CRLF is content, not a boundary
        b"\r\n--b--"  # close delimiter, no CRLF or epilogue after it
    )
    assert simple(parse(body)) == [
        ("start", "a", None, "text/plain"),
        ("end",),
        ("start", "b", None, "text/plain"),
        ("data", b"--b\r\n"),
        ("end",),
    ]


def test_empty_forms():
    assert parse(b"") == []  # an empty body: a form with no fields
    assert parse(b"--b--\r\n") == []  # what browsers send for a form with no fields
    assert parse(b"preamble\r\n--b--") == []


def test_content_that_looks_like_a_boundary():
    content = b"--b\r\n-\r\n--\r\n--c\r\r\n\n--\r\n-b\r--b-\r\n\r\n\r"
    assert simple(parse(part(b"a", content) + close()))[1] == ("data", content)


# Chop points


BOUNDARY_CHARS = "0123456789abcXYZ'()+_,-./:=? "
boundaries = st.text(BOUNDARY_CHARS, min_size=1, max_size=70).filter(lambda b: b[-1] != " ")


@st.composite
def forms(draw):
    """A multipart body, its boundary and the simplified events it must produce."""
    boundary = draw(boundaries).encode("ascii")
    delimiter = b"\r\n--" + boundary
    # Content full of the bytes a delimiter is made of, so near misses abound.
    pieces = st.sampled_from(
        [
            b"\r",
            b"\n",
            b"\r\n",
            b"-",
            b"--",
            b"x",
            b"\x00",
            boundary,
            boundary[: len(boundary) // 2],
            b"\r\n--",
            b"\r\n-",
        ]
    )
    content = st.lists(pieces, max_size=12).map(b"".join)
    preamble = draw(st.one_of(st.just(b""), content))
    assume(delimiter not in b"\r\n" + preamble)
    body = preamble + b"\r\n" if preamble else b""
    expected = []
    for index in range(draw(st.integers(0, 4))):
        data = draw(content)
        assume(delimiter not in data)
        filename = draw(st.one_of(st.none(), st.sampled_from(["a.txt", "", "x y"])))
        disposition = f'form-data; name="f{index}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        padding = draw(st.sampled_from([b"", b" ", b"\t \t"]))
        body += b"--" + boundary + padding + b"\r\nContent-Disposition: " + disposition.encode()
        body += b"\r\n\r\n" + data + b"\r\n"
        expected.append(("start", f"f{index}", filename, "text/plain"))
        if data:
            expected.append(("data", data))
        expected.append(("end",))
    body += b"--" + boundary + b"--" + draw(st.one_of(st.just(b""), st.just(b"\r\n"), content))
    return boundary, body, expected


@given(forms(), st.lists(st.integers(0, 1000), max_size=10))
def test_any_chop_points_give_the_same_events(form, cuts):
    boundary, body, expected = form
    cuts = sorted(min(cut, len(body)) for cut in cuts)
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert simple(parse(body, boundary, chunks=chunks)) == expected


@settings(max_examples=40)  # the extreme of the test above, and 1 feed per byte
@given(forms())
def test_byte_by_byte_gives_the_same_events(form):
    boundary, body, expected = form
    chunks = [body[i : i + 1] for i in range(len(body))]
    assert simple(parse(body, boundary, chunks=chunks)) == expected


@settings(max_examples=50)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 300), min_size=1, max_size=30))
def test_content_is_released_as_soon_as_it_cannot_be_a_delimiter(content, sizes):
    # Bounded buffering: at any point, all the content fed so far has been handed
    # out except at most len(delimiter) - 1 bytes that may start a delimiter.
    boundary = b"----WebKitFormBoundaryePkpFF7tjBAqx29L"
    delimiter = b"\r\n--" + boundary
    assume(delimiter not in content)
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
    body = head + content + delimiter + b"--"
    parser = MultipartParser(boundary)
    released = 0
    position = 0
    index = 0
    while position < len(body):
        size = sizes[index % len(sizes)]
        index += 1
        events = parser.feed(body[position : position + size])
        position += size
        released += sum(len(event.data) for event in events if isinstance(event, PartData))
        content_fed = min(max(position - len(head), 0), len(content))
        assert released <= content_fed
        assert content_fed - released < len(delimiter)
    parser.end()
    assert released == len(content)


@settings(max_examples=60)
@given(
    st.lists(
        st.sampled_from(
            [
                b"--b",
                b"\r\n",
                b"--",
                b"\r",
                b"\n",
                b"x",
                b" ",
                b'Content-Disposition: form-data; name="a"',
                b";",
                b'"',
            ]
        ),
        max_size=30,
    ).map(b"".join),
    st.lists(st.integers(0, 300), max_size=5),
)
def test_garbage_only_raises_form_errors(body, cuts):
    cuts = sorted(min(cut, len(body)) for cut in cuts)
    parser = MultipartParser(b"b", limits=MultipartLimits(max_header_size=64))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    error = None
    try:
        feed_all(parser, chunks)
    except FormError as caught:  # anything else (IndexError, AssertionError...) fails
        error = caught
    assert error is None or error.status in (400, 413)


# Malformed bodies


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"--b\r\n\r\nno headers\r\n--b--", "no Content-Disposition"),
        (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "no Content-Disposition"),
        (
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n'
            b'Content-Disposition: form-data; name="b"\r\n\r\nx\r\n--b--',
            "more than one Content-Disposition",
        ),
        (b'--b\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--b--', "not form-data"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "no name"),
        (b'--b\r\nContent-Disposition: form-data; filename="a"\r\n\r\nx\r\n--b--', "no name"),
        (b'--b\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\n--b--', "repeated"),
        (b'--b\r\nContent-Disposition: form-data; name="a\r\n\r\nx\r\n--b--', "malformed"),
        (b'--b\r\nContent-Disposition: form-data; name="a"x\r\n\r\nx\r\n--b--', "malformed"),
        (b'--b\r\nContent-Disposition: form-data; name=a"b\r\n\r\nx\r\n--b--', "malformed"),
        (b"--b\r\nContent-Disposition: form-data; flag\r\n\r\nx\r\n--b--", "malformed"),
        (b"--b\r\nContent-Disposition form-data\r\n\r\nx\r\n--b--", "invalid multipart part"),
        (b"--b\r\nContent Disposition: form-data\r\n\r\nx\r\n--b--", "invalid multipart part"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\rX: y\r\n\r\n--b--', "bare CR"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\nX: y\r\n\r\n--b--', "bare CR"),
        (b'--b\r\nContent-Disposition: form-data; name="a\x00"\r\n\r\n--b--', "NUL"),
        (b"--b\r\n X: y\r\n\r\n--b--", "starts with whitespace"),
        (b'--b\nContent-Disposition: form-data; name="a"\n\nx\n--b--\n', "after a multipart bound"),
        (b"--bX\r\n", "after a multipart boundary"),
        (b"--b-\r\n", "after a multipart boundary"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--bb\r\n', "after a multi"),
        (b"--b \tx\r\n", "after a multipart boundary"),
        (b'--b\r\nContent-Disposition: form-data; name="f"; filename*=x\r\n\r\n--b--', "filename*"),
        (
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=nope''x\r\n\r\n--b--",
            "filename*",
        ),
        (
            b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=utf-8''%ff\r\n\r\n--b--",
            "filename*",
        ),
        # Truncated bodies: caught by end()
        (b"--b\r\n", "ended in a part's header section"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\r\n', "header section"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\ncontent', "in a part's content"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b', "in a boundary line"),
        (b"just text, no boundary at all", "before the first boundary"),
        (b"--c\r\n", "before the first boundary"),
    ],
)
def test_malformed_bodies_are_400(body, message):
    for chunks in ([body], [body[i : i + 1] for i in range(len(body))]):
        parser = MultipartParser(b"b")
        with pytest.raises(MalformedFormError, match=message) as caught:
            feed_all(parser, chunks)
        assert caught.value.status == 400


def test_parser_refuses_input_after_an_error_or_the_end():
    parser = MultipartParser(b"b")
    with pytest.raises(MalformedFormError):
        parser.feed(b"--bX\r\n")
    assert parser.state == "error"
    with pytest.raises(RuntimeError, match="failed already"):
        parser.feed(b"more")
    with pytest.raises(RuntimeError, match="failed already"):
        parser.end()
    parser = MultipartParser(b"b")
    parser.feed(b"--b--")
    assert parser.state == "epilogue"
    parser.end()
    assert parser.state == "done"
    with pytest.raises(RuntimeError, match="ended already"):
        parser.feed(b"")


# Boundaries


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        (CHROME_CONTENT_TYPE, b"----WebKitFormBoundaryePkpFF7tjBAqx29L"),
        ('multipart/form-data; boundary="simple boundary"', b"simple boundary"),
        ("Multipart/Form-Data; BOUNDARY=abc", b"abc"),
        ("multipart/form-data;boundary=abc;charset=utf-8", b"abc"),
        ("multipart/form-data; charset=utf-8; boundary=abc", b"abc"),
        ("multipart/form-data; boundary=abc=def?", b"abc=def?"),  # unquoted, lenient
        ("multipart/form-data; boundary=" + "x" * 70, b"x" * 70),
        ('multipart/form-data; boundary="' + "'()+_,-./:=?" + '"', b"'()+_,-./:=?"),
    ],
)
def test_parse_boundary(content_type, boundary):
    assert parse_boundary(content_type) == boundary


@pytest.mark.parametrize(
    ("content_type", "error", "message"),
    [
        (None, UnsupportedFormTypeError, "missing Content-Type"),
        ("", UnsupportedFormTypeError, "missing Content-Type"),
        ("application/json", UnsupportedFormTypeError, "expected multipart/form-data"),
        ("multipart/mixed; boundary=abc", UnsupportedFormTypeError, "expected multipart"),
        ("multipart/form-data", MalformedFormError, "no boundary"),
        ("multipart/form-data; charset=utf-8", MalformedFormError, "no boundary"),
        ('multipart/form-data; boundary=""', MalformedFormError, "no boundary"),
        ("multipart/form-data; boundary=" + "x" * 71, MalformedFormError, "1 to 70"),
        ('multipart/form-data; boundary="abc "', MalformedFormError, "1 to 70"),
        ("multipart/form-data; boundary=a@b", MalformedFormError, "1 to 70"),
        ("multipart/form-data; boundary=caf\xe9", MalformedFormError, "1 to 70"),
        ('multipart/form-data; boundary="abc', MalformedFormError, "malformed parameters"),
        ("multipart/form-data; boundary=a; boundary=b", MalformedFormError, "repeated"),
    ],
)
def test_parse_boundary_errors(content_type, error, message):
    with pytest.raises(error, match=message) as caught:
        parse_boundary(content_type)
    assert caught.value.status == (415 if error is UnsupportedFormTypeError else 400)


@pytest.mark.parametrize("boundary", [b"", "", b"x" * 71, b"trailing ", "tab\t", b"\r\n"])
def test_parser_refuses_an_invalid_boundary(boundary):
    with pytest.raises(MalformedFormError):
        MultipartParser(boundary)


def test_str_boundary():
    assert MultipartParser("simple boundary").boundary == b"simple boundary"


# Filenames


@pytest.mark.parametrize(
    ("filename", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("C:\\Users\\ada\\cv.pdf", "cv.pdf"),
        ("/absolute/path/file.txt", "file.txt"),
        ("dir/", None),
        ("..", None),
        (".", None),
        ("...", None),
        ("", None),
        ("   ", None),
        (None, None),
        (".htaccess", "htaccess"),
        ("trailing. . ", "trailing"),
        ("a\x00b.txt", "ab.txt"),
        ("evil\x1b[31m.txt", "evil[31m.txt"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("gpj.\u202eexe.txt", "gpj.exe.txt"),  # right-to-left override dropped
        ('what?<is>:this|"*.txt', "what__is__this___.txt"),
        ("con", "_con"),
        ("CON.txt", "_CON.txt"),
        ("aux.tar.gz", "_aux.tar.gz"),
        ("com1", "_com1"),
        ("LPT9.log", "_LPT9.log"),
        ("COM\u00b9.txt", "_COM1.txt"),  # NFKC first: superscript one is 1
        ("console.txt", "console.txt"),
        ("con_txt", "con_txt"),
        ("résumé.pdf", "résumé.pdf"),
        ("日本語.txt", "日本語.txt"),
        ("ａｂｃ／ｄｅｆ.txt", "def.txt"),  # fullwidth solidus is a slash after NFKC
        ("a\u2024\u2024/b", "b"),  # one-dot leaders: NFKC makes them dots
        ("\u2025", None),  # two-dot leader: ".." after NFKC
    ],
)
def test_safe_filename(filename, safe):
    assert safe_filename(filename) == safe


def test_safe_filename_shortens_keeping_the_extension():
    long = safe_filename("x" * 300 + ".tar.gz")
    assert long is not None
    assert len(long.encode()) == 255
    assert long.endswith("x.gz")
    wide = safe_filename("é" * 200 + ".pdf")
    assert wide is not None
    assert len(wide.encode()) <= 255
    assert wide.endswith("é.pdf")
    assert safe_filename("é" * 300) == "é" * 127
    # An "extension" too long to be one is not kept apart.
    assert safe_filename("a." + "b" * 300) == "a." + "b" * 253


# Limits


def over(limit, value, body, *, chunks=None, **limits):
    with pytest.raises(FormTooLargeError) as caught:
        parse(body, limits=MultipartLimits(**limits), chunks=chunks)
    assert (caught.value.status, caught.value.limit, caught.value.value) == (413, limit, value)
    return caught.value


def test_max_size():
    body = part(b"a", b"12345") + close()
    parse(body, limits=MultipartLimits(max_size=len(body)))
    over("max_size", len(body) - 1, body, max_size=len(body) - 1)
    # Counted across feeds, and including preamble and epilogue.
    over("max_size", 10, b"x" * 6 + b"y" * 5, chunks=[b"x" * 6, b"y" * 5], max_size=10)
    over("max_size", len(body), body + b"epilogue", max_size=len(body))


def test_max_parts():
    body = part(b"a", b"1") + part(b"b", b"2") + close()
    parse(body, limits=MultipartLimits(max_parts=2))
    over("max_parts", 1, body, max_parts=1)


def test_max_header_size():
    header = b'Content-Disposition: form-data; name="a"\r\n\r\n'
    body = b"--b\r\n" + header + b"x\r\n" + close()
    parse(body, limits=MultipartLimits(max_header_size=len(header)))
    over("max_header_size", len(header) - 1, body, max_header_size=len(header) - 1)
    # An endless header section trips the limit before it completes, in any chunking.
    endless = b"--b\r\n" + b"X-Junk: " + b"j" * 100
    for chunks in ([endless], [endless[i : i + 7] for i in range(0, len(endless), 7)]):
        parser = MultipartParser(b"b", limits=MultipartLimits(max_header_size=64))
        with pytest.raises(FormTooLargeError):
            feed_all(parser, chunks, end=False)


def test_boundary_line_padding_is_bounded():
    over("max_header_size", 16, b"--b" + b" " * 17, max_header_size=16)


def test_max_field_size_applies_to_fields_only():
    body = part(b"a", b"12345") + part(b"f", b"123456789", filename=b"f.txt") + close()
    parse(body, limits=MultipartLimits(max_field_size=5))
    over("max_field_size", 4, body, max_field_size=4)
    over(
        "max_field_size",
        4,
        body,
        max_field_size=4,
        chunks=[body[i : i + 1] for i in range(len(body))],
    )


def test_max_file_size_applies_to_files_only():
    body = part(b"a", b"123456789") + part(b"f", b"12345", filename=b"f.txt") + close()
    parse(body, limits=MultipartLimits(max_file_size=5))
    over("max_file_size", 4, body, max_file_size=4)


def test_limits_off():
    body = part(b"a", b"x" * 100) * 3 + close()
    limits = MultipartLimits(
        max_size=None,
        max_parts=None,
        max_header_size=None,
        max_field_size=None,
        max_file_size=None,
    )
    assert len(parse(body, limits=limits)) == 9


def test_default_limits():
    limits = MultipartLimits()
    assert limits.max_size == 16 * 1024 * 1024
    assert limits.max_parts == 1000
    assert limits.max_header_size == 8192
    assert limits.max_field_size == 1024 * 1024
    assert limits.max_file_size is None
    assert DEFAULT_SPOOL_THRESHOLD == 1024 * 1024
    assert DEFAULT_MAX_MEMORY_SIZE == 8 * 1024 * 1024


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_size": -1},
        {"max_parts": 0},
        {"max_header_size": 0},
        {"max_field_size": 1.0},
        {"max_file_size": True},
        {"max_size": "1"},
    ],
)
def test_invalid_limits(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MultipartLimits(**kwargs)


# The collector


def test_collector_spools_big_files_and_keeps_small_ones_in_memory(tmp_path):
    body = (
        part(b"small", b"s" * 10, filename=b"s.bin")
        + part(b"big", b"B" * 100, filename=b"b.bin")
        + part(b"field", b"value")
        + close()
    )
    collector = MultipartCollector(b"b", spool_threshold=50, temp_dir=str(tmp_path))
    for start in range(0, len(body), 13):
        collector.feed(body[start : start + 13])
    form = collector.end()
    small, big = form["small"], form["big"]
    assert isinstance(small, UploadFile)
    assert isinstance(big, UploadFile)
    assert small.in_memory
    assert not big.in_memory
    assert (small.size, big.size) == (10, 100)
    assert big.read() == b"B" * 100
    assert big.seek(0) == 0
    assert big.read(3) == b"BBB"
    assert form["field"] == "value"
    collector.close()
    assert small.file.closed
    assert big.file.closed


def test_collector_threshold_zero_goes_straight_to_disk():
    collector = MultipartCollector(b"b", spool_threshold=0)
    collector.feed(part(b"f", b"abc", filename=b"f") + close())
    upload = collector.end()["f"]
    assert isinstance(upload, UploadFile)
    assert not upload.in_memory
    with upload:
        assert upload.read() == b"abc"
    assert upload.file.closed


def test_collector_memory_budget_spools_files_early():
    body = (
        part(b"f1", b"1" * 40, filename=b"a")
        + part(b"f2", b"2" * 40, filename=b"b")
        + part(b"field", b"x" * 30)
        + close()
    )
    collector = MultipartCollector(b"b", spool_threshold=1000, max_memory_size=100)
    collector.feed(body)
    form = collector.end()
    f1, f2 = form["f1"], form["f2"]
    assert isinstance(f1, UploadFile)
    assert isinstance(f2, UploadFile)
    assert not f1.in_memory
    assert not f2.in_memory
    assert f1.read() == b"1" * 40
    assert f2.read() == b"2" * 40
    assert form["field"] == "x" * 30


def test_collector_memory_budget_refuses_too_many_field_bytes():
    body = part(b"a", b"x" * 60) + part(b"b", b"y" * 60) + close()
    collector = MultipartCollector(b"b", max_memory_size=100)
    with pytest.raises(FormTooLargeError) as caught:
        collector.feed(body)
    assert (caught.value.status, caught.value.limit) == (413, "max_memory_size")
    # The parser itself did not fail, but the collector refuses to go on.
    with pytest.raises(RuntimeError, match="failed already"):
        collector.feed(close())
    with pytest.raises(RuntimeError, match="failed already"):
        collector.end()


def test_collector_closes_files_on_error():
    collector = MultipartCollector(b"b")
    collector.feed(part(b"f", b"data", filename=b"f.txt"))
    upload = collector._files[0]
    with pytest.raises(MalformedFormError):
        collector.feed(b"--bX\r\n")
    assert upload.file.closed
    with pytest.raises(RuntimeError):
        collector.feed(b"")
    truncated = MultipartCollector(b"b")
    truncated.feed(part(b"f", b"data", filename=b"f.txt"))
    with pytest.raises(MalformedFormError):
        truncated.end()
    assert truncated._files[0].file.closed


def test_collector_field_charsets():
    body = (
        part(b"latin", b"caf\xe9", headers=b"Content-Type: text/plain; charset=latin-1\r\n")
        + part(b"bad", b"\xff")
        + part(b"odd", b"x", headers=b'Content-Type: text/plain; charset="\r\n')  # ignored
        + close()
    )
    collector = MultipartCollector(b"b")
    collector.feed(body)
    form = collector.end()
    assert form.to_dict() == {"latin": "café", "bad": "\ufffd", "odd": "x"}


def test_collector_unknown_charset_is_400():
    body = part(b"a", b"x", headers=b"Content-Type: text/plain; charset=klingon\r\n") + close()
    collector = MultipartCollector(b"b")
    collector.feed(body)
    with pytest.raises(MalformedFormError, match="unknown charset") as caught:
        collector.end()
    assert caught.value.status == 400


def test_collector_keeps_brackets_on_request():
    collector = MultipartCollector(b"b", strip_brackets=False)
    collector.feed(part(b"t[]", b"1") + part(b"t[]", b"2") + close())
    assert collector.end().getall("t[]") == ["1", "2"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spool_threshold": -1},
        {"spool_threshold": 1.5},
        {"spool_threshold": True},
        {"max_memory_size": -1},
        {"max_memory_size": "big"},
    ],
)
def test_collector_invalid_settings(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MultipartCollector(b"b", **kwargs)


def test_big_upload_keeps_memory_flat():
    # 32 MiB through the collector in 64 KiB feeds: memory stays near one feed plus
    # the spool threshold, not the upload's size. (1 GiB behaves the same, slower.)
    size = 32 * 1024 * 1024
    chunk = bytes(range(256)) * 256  # 64 KiB
    head = b'--b\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n'
    collector = MultipartCollector(
        b"b", limits=MultipartLimits(max_size=None), spool_threshold=1024 * 1024
    )
    tracemalloc.start()
    try:
        collector.feed(head)
        for _ in range(size // len(chunk)):
            collector.feed(chunk)
        collector.feed(b"\r\n--b--\r\n")
        form = collector.end()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    upload = form["f"]
    assert isinstance(upload, UploadFile)
    assert upload.size == size
    assert not upload.in_memory
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"
    upload.seek(size - 256)
    assert upload.read() == bytes(range(256))
    collector.close()


def test_parser_speed_on_large_chunks():
    # 64 MiB in 1 MiB feeds: a handful of bytes.find calls per feed, no per-byte work.
    import time

    chunk = b"\r\n-" * (1024 * 1024 // 3)
    parser = MultipartParser(
        b"----WebKitFormBoundaryePkpFF7tjBAqx29L",
        limits=MultipartLimits(max_size=None, max_file_size=None),
    )
    parser.feed(
        b"------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
        b'Content-Disposition: form-data; name="f"; filename="x"\r\n\r\n'
    )
    started = time.perf_counter()
    total = 0
    for _ in range(64):
        total += sum(len(e.data) for e in parser.feed(chunk) if isinstance(e, PartData))
    elapsed = time.perf_counter() - started
    assert total >= 64 * len(chunk) - 100
    assert elapsed < 2.0, f"{elapsed:.2f} s"


def test_events_are_frozen_keyword_only_dataclasses():
    started = PartStarted(name="a", filename=None)
    assert started.content_type == "text/plain"
    assert len(started.headers) == 0
    with pytest.raises(TypeError):
        PartData(b"x")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        started.name = "b"  # type: ignore[misc]
    assert PartEnded() == PartEnded()
