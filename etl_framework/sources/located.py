"""Records that know where they came from, so an error can name the place.

The file and HTTP sources yield `LocatedRecord` s: ordinary dicts with two extra
slots, an *origin* (the file, or the API page) and a *position* in it (a line number,
or an index into the page's records). Nothing is formatted per record: the text is
built only when an error needs it (`LocatedRecord.location`)::

    orders.csv line 5
    page 3 of https://api.example.com/v4/orders?page=3, record results[17]

`etl_framework.mapping.FieldMapping.rows` puts it in front of a row-level error. A
``transform`` that yields the records it was given (changed in place or not) keeps
the location; one that builds new dicts loses it, and the error falls back to the
record's ordinal number in the source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class Origin(Protocol):
    """Where a batch of records comes from; `describe` names one position in it."""

    def describe(self, position: int) -> str: ...


class FileOrigin:
    """A file (path or ``gs://`` URI); positions are 1-based line numbers."""

    __slots__ = ("location",)

    def __init__(self, location: object) -> None:
        self.location = str(location)

    def describe(self, position: int) -> str:
        return f"{self.location} line {position}"


class PageOrigin:
    """One API page; positions index its records list (``records_path[i]``)."""

    __slots__ = ("page_number", "records_path", "url")

    def __init__(self, url: str, page_number: int, records_path: str) -> None:
        self.url = url
        self.page_number = page_number
        self.records_path = records_path

    def describe(self, position: int) -> str:
        return f"page {self.page_number} of {self.url}, record {self.records_path}[{position}]"


class LocatedRecord(dict[str, Any]):
    """A source record (a plain dict) with its origin and position."""

    __slots__ = ("origin", "position")

    def __init__(
        self, data: Mapping[str, Any] | Iterable[tuple[str, Any]], origin: Origin, position: int
    ) -> None:
        super().__init__(data)
        self.origin = origin
        self.position = position

    def location(self) -> str:
        """``orders.csv line 5``, ``page 3 of URL, record results[17]``."""
        return self.origin.describe(self.position)


def locate(record: Any, origin: Origin, position: int) -> Any:
    """``record`` as a `LocatedRecord` if it is a dict (other values pass unchanged)."""
    if type(record) is dict:
        return LocatedRecord(record, origin, position)
    return record


__all__ = ["FileOrigin", "LocatedRecord", "Origin", "PageOrigin", "locate"]
