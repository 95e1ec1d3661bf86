"""Cut a byte stream into lines, with a bound on how much is buffered (sans-I/O)."""

from __future__ import annotations

__all__ = ["LineBuffer"]


def _utf8_cut(data: bytes, limit: int) -> int:
    """Where to cut ``data`` (longer than ``limit``) so that no UTF-8 character is split.

    Backs off over at most three continuation bytes (``10xxxxxx``): past that the
    bytes are not UTF-8 anyway, and ``limit`` is as good a place as any.
    """
    cut = limit
    while cut > limit - 3 and cut > 1 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut if data[cut] & 0xC0 != 0x80 else limit


class LineBuffer:
    """Lines of a stream: ``feed`` bytes, get the complete lines back.

    A line ends at LF; the LF and a CR before it are removed. A line longer than
    ``max_line_size`` bytes comes out in pieces of at most that size, cut at a
    UTF-8 character boundary when the bytes are UTF-8, so no more than
    ``max_line_size`` bytes are ever held. ``split_lines`` counts how often a line
    had to be cut.

    Args:
        max_line_size: the longest line returned whole.
    """

    __slots__ = ("_partial", "max_line_size", "split_lines")

    def __init__(self, max_line_size: int) -> None:
        self.max_line_size = max_line_size
        self._partial = b""
        self.split_lines = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The lines ``data`` completes, in order (possibly none)."""
        if self._partial:
            data = self._partial + data
        elif data.find(b"\n") == len(data) - 1 and len(data) <= self.max_line_size + 1:
            # One whole line, as interactive programs write them: the fast path.
            self._partial = b""
            return [data[:-2] if data.endswith(b"\r\n") else data[:-1]]
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            if len(data) > self.max_line_size:
                return self._cut_partial()
            return []
        self._partial = data[end + 1 :]
        lines = data[:end].split(b"\n")
        if b"\r" in data:
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        limit = self.max_line_size
        if end > limit and any(len(line) > limit for line in lines):
            lines = [piece for line in lines for piece in self._pieces(line)]
        if len(self._partial) > limit:
            lines += self._cut_partial()
        return lines

    def flush(self) -> bytes | None:
        """At end of stream: the last line if it had no LF (a CR before the end is kept
        unless it ends the stream), else ``None``."""
        rest, self._partial = self._partial, b""
        if not rest:
            return None
        return rest[:-1] if rest.endswith(b"\r") else rest

    def _cut_partial(self) -> list[bytes]:
        # Send what cannot be held; keep the tail (it may be a line's start).
        pieces = self._pieces(self._partial)
        self._partial = pieces.pop()
        return pieces

    def _pieces(self, line: bytes) -> list[bytes]:
        limit = self.max_line_size
        if len(line) <= limit:
            return [line]
        self.split_lines += 1
        pieces = []
        while len(line) > limit:
            cut = _utf8_cut(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
        return pieces
