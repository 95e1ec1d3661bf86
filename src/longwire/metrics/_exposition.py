"""The Prometheus text exposition format, version 0.0.4, written by hand.

Per family: ``# HELP name text``, ``# TYPE name counter|gauge``, then one line per
sample, ``name{label="value",...} number``. Counter names end in ``_total``
(the families are named so). In label values a backslash, a double quote and a
line feed are escaped as ``\\\\``, ``\\"`` and ``\\n``; in help texts, the
backslash and the line feed only.
"""

from __future__ import annotations

import math

from ._counters import FAMILIES, Family, Snapshot

__all__ = ["CONTENT_TYPE", "escape_help", "escape_label_value", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The ``Content-Type`` of a scrape answer in this format."""

_LABEL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_HELP_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n"})


def escape_label_value(value: str) -> str:
    """``value`` escaped for use between the double quotes of a label."""
    return value.translate(_LABEL_ESCAPES)


def escape_help(text: str) -> str:
    """``text`` escaped for a ``# HELP`` line."""
    return text.translate(_HELP_ESCAPES)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _family_lines(family: Family, samples: dict[tuple[str, ...], float], out: list[str]) -> None:
    name = family.name
    out.append(f"# HELP {name} {escape_help(family.help)}")
    out.append(f"# TYPE {name} {family.type}")
    names = family.labels
    for values in sorted(samples):
        if len(values) != len(names):
            raise ValueError(f"{name}: label values {values!r} for the labels {names!r}")
        if names:
            pairs = ",".join(
                f'{label}="{escape_label_value(value)}"'
                for label, value in zip(names, values, strict=True)
            )
            out.append(f"{name}{{{pairs}}} {_number(samples[values])}")
        else:
            out.append(f"{name} {_number(samples[values])}")


def render(snapshot: Snapshot, families: tuple[Family, ...] = FAMILIES) -> str:
    """``snapshot`` as exposition text: every family of ``families``, in order.

    A family absent from ``snapshot`` is listed with no samples; names in
    ``snapshot`` that no family describes are left out.

    Raises:
        ValueError: a sample has a different number of label values than its
            family has labels.
    """
    out: list[str] = []
    for family in families:
        _family_lines(family, snapshot.get(family.name, {}), out)
    out.append("")
    return "\n".join(out)
