"""The parser protocol and the table of known aggregation encodings.

A parser reads the aggregated variables of one netCDF group into
:class:`semsl.cfa.model.AggregatedVariable` objects and writes them back.  The dataset
asks every registered parser, in order, whether a group uses its encoding; the file's
attributes decide, never its name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from semsl.cfa.model import AggregatedVariable

__all__ = [
    "BUILTIN_PARSERS",
    "MasterContext",
    "Parser",
    "group_path",
    "parser_for_group",
    "parser_named",
    "register_parser",
]


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


#: The built-in encodings, in the order they are asked: CF-1.13, CFA-0.6.2, CFA-0.5,
#: CFA-0.4.  Detection is by attributes and unambiguous; the order only fixes which
#: parser reports a master that mixes encodings.  Each module registers itself.
BUILTIN_PARSERS = (
    "semsl.parsers.cf_aggregation",
    "semsl.parsers.cfa06",
    "semsl.parsers.cfa05",
    "semsl.parsers.cfa04",
)

_PARSERS: list[Parser] = []
_BUILTINS_LOADED = False


def register_parser(parser: Parser) -> None:
    """Add an encoding to the table consulted when a master is opened.

    Built-in encodings keep their fixed order whatever the import order; others
    come after them, in the order registered.
    """
    _PARSERS.append(parser)
    _PARSERS.sort(key=_rank)


def _rank(parser: Parser) -> int:
    module = type(parser).__module__
    return BUILTIN_PARSERS.index(module) if module in BUILTIN_PARSERS else len(BUILTIN_PARSERS)


def _parsers() -> list[Parser]:
    """The registered parsers, the built-in ones imported on first use."""
    global _BUILTINS_LOADED  # noqa: PLW0603  (a once-only lazy import)
    if not _BUILTINS_LOADED:
        for module in BUILTIN_PARSERS:
            importlib.import_module(module)
        _BUILTINS_LOADED = True
    return _PARSERS


def parser_for_group(group: Any) -> Parser | None:
    """Return the parser whose encoding ``group`` uses, or ``None`` for plain netCDF."""
    for parser in _parsers():
        if parser.detect(group):
            return parser
    return None


def parser_named(name: str) -> Parser:
    """The parser of the encoding ``name`` (``"CF-1.13"``, ``"CFA-0.5"``, ``"0.4"``, ...)."""
    wanted = name.upper().removeprefix("CFA-")
    for parser in _parsers():
        if parser.name.upper().removeprefix("CFA-") in (wanted, f"{wanted}.2"):
            return parser
    known = ", ".join(p.name for p in _parsers())
    raise ValueError(f"unknown aggregation encoding {name!r}; semsl knows {known}")


def group_path(group: Any) -> str:
    """The path of a netCDF4 group (``"/"`` for the root group)."""
    return str(group.path)
