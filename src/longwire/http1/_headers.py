"""Header fields: an ordered, case-insensitive, multi-valued collection.

Names and values are ``str`` holding the wire bytes decoded as latin-1, so every
byte survives a round trip (RFC 9110 §5.5: obs-text is opaque data). Names keep
the case they arrived or were given in; lookups ignore case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeAlias

__all__ = ["Headers", "HeadersLike"]

HeadersLike: TypeAlias = "Headers | Iterable[tuple[str, str]]"
"""What event constructors accept for ``headers``: a ``Headers`` or ``(name, value)`` pairs."""


class Headers:
    """Ordered header fields with case-insensitive lookup.

    ``Headers([("Host", "example.com"), ("Accept", "*/*")])``. Iterating yields
    ``(name, value)`` pairs in order, repeated names included.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        # (lowercased name, name as given, value): lookups compare the first item.
        self._fields: list[tuple[str, str, str]] = [
            (name.lower(), name, value) for name, value in fields
        ]

    @classmethod
    def coerce(cls, headers: HeadersLike | None) -> Headers:
        """Return ``headers`` if it is already a ``Headers``, else a new one from pairs."""
        if isinstance(headers, Headers):
            return headers
        return cls(headers or ())

    # Reading

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        lname = name.lower()
        for lower, _, value in self._fields:
            if lower == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order (an empty list when absent)."""
        lname = name.lower()
        return [value for lower, _, value in self._fields if lower == lname]

    def get_list(self, name: str) -> list[str]:
        """Every comma-separated element of ``name``'s values, stripped, empty ones dropped.

        For list-valued fields such as ``Connection`` or ``Transfer-Encoding``
        (RFC 9110 §5.6.1). Elements keep their case.
        """
        items = []
        for value in self.get_all(name):
            for element in value.split(","):
                item = element.strip(" \t")
                if item:
                    items.append(item)
        return items

    def has_token(self, name: str, token: str) -> bool:
        """Whether list-valued field ``name`` contains ``token`` (case-insensitive)."""
        token = token.lower()
        return any(item.lower() == token for item in self.get_list(name))

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lname = name.lower()
        for field in self._fields:  # noqa: SIM110 - a plain loop: any() with a genexpr costs 2x
            if field[0] == lname:
                return True
        return False

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._fields:
            yield name, value

    def items(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` pairs, in order."""
        return [(name, value) for _, name, value in self._fields]

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        # Equal when the same fields appear in the same order, names compared
        # case-insensitively (the case of a name carries no meaning).
        if isinstance(other, Headers):
            return [(lo, v) for lo, _, v in self._fields] == [(lo, v) for lo, _, v in other._fields]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    # Writing

    def add(self, name: str, value: str) -> None:
        """Append a field, keeping any existing ones of the same name."""
        self._fields.append((name.lower(), name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field named ``name`` by one with ``value``."""
        self.remove(name)
        self.add(name, value)

    def setdefault(self, name: str, value: str) -> str:
        """Add ``name: value`` unless ``name`` is present; return the value in force."""
        existing = self.get(name)
        if existing is not None:
            return existing
        self.add(name, value)
        return value

    def remove(self, name: str) -> None:
        """Remove every field named ``name`` (no error when absent)."""
        lname = name.lower()
        self._fields = [field for field in self._fields if field[0] != lname]

    def copy_with(self, fields: Iterable[tuple[str, str]], *, drop: Iterable[str] = ()) -> Headers:
        """A copy without the fields named in ``drop``, with ``fields`` appended."""
        new = Headers.__new__(Headers)
        if drop:
            dropped = [name.lower() for name in drop]
            kept = [field for field in self._fields if field[0] not in dropped]
        else:
            kept = self._fields.copy()
        for name, value in fields:
            kept.append((name.lower(), name, value))
        new._fields = kept
        return new

    def copy(self) -> Headers:
        """A shallow copy."""
        new = Headers()
        new._fields = list(self._fields)
        return new
