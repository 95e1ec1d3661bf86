"""Server metrics in the Prometheus text exposition format (version 0.0.4).

Sans-I/O, like the protocol cores: nothing here imports asyncio or touches a
socket. The asyncio layer increments the integer attributes of one ``Metrics``
object per server (always, since an increment costs next to nothing);
``Metrics.snapshot()`` turns them into a plain ``Snapshot`` only when asked,
``render`` writes that as exposition text, and ``merge`` adds snapshots up.

Several processes serving one port (``longwire serve --workers N``) share a
directory: each writes its snapshot there (``write_snapshot``), a scrape reads
them all (``read_directory``), and the supervisor calls ``retire`` after reaping
a worker so that counters never go down when workers come and go.

The metrics are listed in ``FAMILIES``; docs/_sections/metrics.md explains each.
"""

from ._counters import (
    FAMILIES,
    HANDSHAKE_FAILURE_REASONS,
    Family,
    Metrics,
    Snapshot,
    counters_only,
    merge,
)
from ._directory import RETIRED_FILE, collect, read_directory, retire, write_snapshot
from ._exposition import CONTENT_TYPE, escape_help, escape_label_value, render

__all__ = [
    "CONTENT_TYPE",
    "FAMILIES",
    "HANDSHAKE_FAILURE_REASONS",
    "RETIRED_FILE",
    "Family",
    "Metrics",
    "Snapshot",
    "collect",
    "counters_only",
    "escape_help",
    "escape_label_value",
    "merge",
    "read_directory",
    "render",
    "retire",
    "write_snapshot",
]
