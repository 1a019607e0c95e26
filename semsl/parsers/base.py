"""The parser protocol and the table of known aggregation encodings.

A parser reads the aggregated variables of one netCDF group into
:class:`semsl.cfa.model.AggregatedVariable` objects and writes them back.  The dataset
asks every registered parser, in order, whether a group uses its encoding; the file's
attributes decide, never its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from semsl.cfa.model import AggregatedVariable

__all__ = ["MasterContext", "Parser", "group_path", "parser_for_group", "register_parser"]


@dataclass(frozen=True)
class MasterContext:
    """What a parser needs to know about the master it reads, for error messages."""

    master: str


class Parser(Protocol):
    """Reads and writes one aggregation encoding."""

    #: Name of the encoding, e.g. ``"CF-1.13"``.
    name: str

    def detect(self, group: Any) -> bool:
        """Whether ``group`` (a ``netCDF4`` group) holds variables in this encoding."""
        ...

    def read(self, group: Any, context: MasterContext) -> list[AggregatedVariable]:
        """Return the aggregated variables of ``group`` (not of its child groups)."""
        ...

    def write(self, model: AggregatedVariable, group: Any) -> None:
        """Record ``model`` in ``group``, which holds its scalar variable already."""
        ...


_PARSERS: list[Parser] = []


def register_parser(parser: Parser) -> None:
    """Add an encoding to the table consulted when a master is opened."""
    _PARSERS.append(parser)


def parser_for_group(group: Any) -> Parser | None:
    """Return the parser whose encoding ``group`` uses, or ``None`` for plain netCDF."""
    if not _PARSERS:
        import semsl.parsers.cf_aggregation  # noqa: F401, PLC0415  (registers itself)
    for parser in _PARSERS:
        if parser.detect(group):
            return parser
    return None


def group_path(group: Any) -> str:
    """The path of a netCDF4 group (``"/"`` for the root group)."""
    return str(group.path)
