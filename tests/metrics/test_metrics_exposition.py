"""The sans-I/O part: counters, snapshots, merging, and the text exposition format 0.0.4."""

import importlib
import math
import re
import subprocess
import sys

import pytest
from metrics_support import parse, value
from prometheus_client.parser import text_string_to_metric_families

import longwire.metrics
from longwire.metrics import (
    CONTENT_TYPE,
    FAMILIES,
    HANDSHAKE_FAILURE_REASONS,
    Family,
    Metrics,
    counters_only,
    escape_help,
    escape_label_value,
    merge,
    render,
)

DEMO_FAMILIES = (
    Family(
        name="demo_requests_total",
        type="counter",
        help='Requests "served", with a \\ and\na line feed.',
        labels=("path", "code"),
    ),
    Family(name="demo_open", type="gauge", help="Open now."),
    Family(name="demo_empty_total", type="counter", help="Nothing yet.", labels=("kind",)),
    Family(name="demo_special", type="gauge", help="Odd values.", labels=("kind",)),
)
ODD_PATH = '/a\\"q"\nz'  # a backslash, double quotes and a line feed


def test_render_is_byte_exact():
    snapshot = {
        "demo_requests_total": {("/b", "200"): 3, (ODD_PATH, "404"): 1, ("/a", "200"): 2.5},
        "demo_open": {(): 7},
        "demo_special": {("nan",): math.nan, ("inf",): math.inf, ("-inf",): -math.inf},
        "not_a_family_total": {(): 1},  # unknown names are left out
    }
    expected = "\n".join(
        [
            r'# HELP demo_requests_total Requests "served", with a \\ and\na line feed.',
            "# TYPE demo_requests_total counter",
            r'demo_requests_total{path="/a",code="200"} 2.5',
            r'demo_requests_total{path="/a\\\"q\"\nz",code="404"} 1',
            r'demo_requests_total{path="/b",code="200"} 3',
            "# HELP demo_open Open now.",
            "# TYPE demo_open gauge",
            "demo_open 7",
            "# HELP demo_empty_total Nothing yet.",
            "# TYPE demo_empty_total counter",
            "# HELP demo_special Odd values.",
            "# TYPE demo_special gauge",
            'demo_special{kind="-inf"} -Inf',
            'demo_special{kind="inf"} +Inf',
            'demo_special{kind="nan"} NaN',
            "",
        ]
    )
    assert render(snapshot, DEMO_FAMILIES) == expected


def test_prometheus_client_parses_it_back():
    snapshot = {
        "demo_requests_total": {(ODD_PATH, "404"): 1, ("/b", "200"): 3},
        "demo_open": {(): 7},
    }
    families = {f.name: f for f in text_string_to_metric_families(render(snapshot, DEMO_FAMILIES))}
    # The parser names a counter family without its _total suffix.
    assert set(families) == {"demo_requests", "demo_open", "demo_empty", "demo_special"}
    requests = families["demo_requests"]
    assert requests.type == "counter"
    assert requests.documentation == 'Requests "served", with a \\ and\na line feed.'
    assert {(s.name, s.labels["path"], s.value) for s in requests.samples} == {
        ("demo_requests_total", ODD_PATH, 1),
        ("demo_requests_total", "/b", 3),
    }
    assert families["demo_open"].type == "gauge"
    assert families["demo_open"].samples[0].value == 7


def test_escaping_functions():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_help('a\\b"c\nd') == 'a\\\\b"c\\nd'  # quotes stay as they are in help


def test_a_sample_with_the_wrong_number_of_labels_is_refused():
    with pytest.raises(ValueError, match="label values"):
        render({"demo_requests_total": {("/only-a-path",): 1}}, DEMO_FAMILIES)


def test_the_families_follow_prometheus_naming():
    names = [family.name for family in FAMILIES]
    assert len(set(names)) == len(names)
    for family in FAMILIES:
        assert re.fullmatch(r"longwire_[a-z_]+", family.name)
        assert family.name.endswith("_total") == (family.type == "counter"), family.name
        assert family.help.endswith(".")
        for label in family.labels:
            assert re.fullmatch(r"[a-z_]+", label)


def test_a_fresh_server_exposes_every_family_at_zero():
    text = render(Metrics().snapshot())
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(families) == len(FAMILIES)
    for family in FAMILIES:
        parsed = families[family.name.removesuffix("_total")]
        assert parsed.type == family.type
        assert all(sample.value == 0 for sample in parsed.samples)
    samples = parse(text)
    # Fixed label values are always there, so a dashboard shows 0 rather than nothing.
    for reason in HANDSHAKE_FAILURE_REASONS:
        assert ("longwire_websocket_handshake_failures_total", (("reason", reason),)) in samples
    for kind in ("http", "websocket"):
        assert ("longwire_connections_open", (("kind", kind),)) in samples
    # Statuses and close codes appear once seen.
    assert not any(name == "longwire_http_requests_total" for name, _ in samples)


class FakeWebSocket:
    def __init__(self) -> None:
        self.bytes_received = 0
        self.bytes_sent = 0


def test_counters_become_samples():
    metrics = Metrics(pid=1234)
    metrics.http_connections += 3
    metrics.http_open += 1
    metrics.http_responses[200] += 5
    metrics.http_responses[404] += 1
    metrics.http_bytes_in += 100
    metrics.websocket_messages_in += 7
    metrics.heartbeat_timeouts += 1
    metrics.handshake_failed("origin")
    first, second = FakeWebSocket(), FakeWebSocket()
    metrics.websocket_opened(first)
    metrics.websocket_opened(second)
    first.bytes_received, first.bytes_sent = 10, 20
    second.bytes_received, second.bytes_sent = 1, 2
    metrics.websocket_closed(first, 1000)
    first.bytes_received = 999  # after its close: no longer read
    second.bytes_received = 5  # still open: read at each snapshot

    samples = parse(render(metrics.snapshot()))
    assert value(samples, "longwire_connections_total", kind="http") == 3
    assert value(samples, "longwire_connections_total", kind="websocket") == 2
    assert value(samples, "longwire_connections_open", kind="http") == 1
    assert value(samples, "longwire_connections_open", kind="websocket") == 1
    assert value(samples, "longwire_http_requests_total", status="200") == 5
    assert value(samples, "longwire_http_requests_total", status="404") == 1
    assert value(samples, "longwire_http_bytes_total", direction="in") == 100
    assert value(samples, "longwire_websocket_messages_total", direction="in") == 7
    assert value(samples, "longwire_websocket_bytes_total", direction="in") == 10 + 5
    assert value(samples, "longwire_websocket_bytes_total", direction="out") == 20 + 2
    assert value(samples, "longwire_websocket_handshake_failures_total", reason="origin") == 1
    assert value(samples, "longwire_websocket_heartbeat_timeouts_total") == 1
    assert value(samples, "longwire_websocket_closes_total", code="1000") == 1
    assert metrics.websockets_open == 1
    assert "pid=1234" in repr(metrics)


def test_an_unknown_handshake_failure_reason_is_a_bug():
    with pytest.raises(KeyError):
        Metrics().handshake_failed("because")


def test_merge_sums_and_counters_only_drops_gauges():
    one = {
        "longwire_connections_open": {("http",): 2},
        "longwire_http_requests_total": {("200",): 3},
    }
    two = {"longwire_http_requests_total": {("200",): 4, ("404",): 1}}
    assert merge([one, two]) == {
        "longwire_connections_open": {("http",): 2},
        "longwire_http_requests_total": {("200",): 7, ("404",): 1},
    }
    assert counters_only(one) == {"longwire_http_requests_total": {("200",): 3}}
    assert merge([]) == {}


def test_content_type():
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_public_names_exist_and_are_documented():
    module = importlib.import_module("longwire.metrics")
    assert module.__doc__
    for name in module.__all__:
        obj = getattr(longwire.metrics, name)
        assert not name.startswith("_")
        if callable(obj) and not isinstance(obj, type(dict[str, int])):
            assert obj.__doc__, name


def test_the_metrics_package_imports_no_io_framework():
    code = (
        "import sys; before = set(sys.modules); import longwire.metrics; "
        "added = set(sys.modules) - before; "
        "print(sorted({'asyncio', 'socket', 'selectors', 'threading'} & added))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_docs_list_every_metric_and_reason():
    """Wherever the metrics section ends up under docs/, its tables stay complete."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    text = "\n".join(path.read_text() for path in sorted(docs.rglob("*.md")))
    for family in FAMILIES:
        row = re.search(rf"^\| `{family.name}` \| (\w+) \|([^|]*)\|", text, re.MULTILINE)
        assert row, f"no row for {family.name}"
        assert row[1] == family.type
        for label in family.labels:
            assert f"`{label}`" in row[2], (family.name, label)
    for reason in HANDSHAKE_FAILURE_REASONS:
        assert re.search(rf"^\| `{reason}` \|", text, re.MULTILINE), reason
