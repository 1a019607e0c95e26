"""Dataset sizes and the workloads' keys, defined as fractions of the default shape."""

from __future__ import annotations

import math
from dataclasses import dataclass

Key = tuple[int | slice, ...]

DEFAULT_SHAPE = (1460, 192, 288)


@dataclass(frozen=True)
class Size:
    name: str
    shape: tuple[int, int, int]
    time_fragments: int = 40
    tile_grid: tuple[int, int, int] = (1, 4, 4)  # 16 tiles
    open_grid: tuple[int, int, int] = (1000, 10, 10)  # 100,000 fragments
    open_block: tuple[int, int, int] = (2, 8, 8)

    @property
    def time_block(self) -> tuple[int, int, int]:
        t, y, x = self.shape
        return (math.ceil(t / self.time_fragments), y, x)

    @property
    def tile_block(self) -> tuple[int, int, int]:
        return _ceil_div(self.shape, self.tile_grid)

    @property
    def open_shape(self) -> tuple[int, int, int]:
        g, b = self.open_grid, self.open_block
        return (g[0] * b[0], g[1] * b[1], g[2] * b[2])

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * 4


def _ceil_div(shape: tuple[int, int, int], grid: tuple[int, int, int]) -> tuple[int, int, int]:
    t, y, x = (math.ceil(n / g) for n, g in zip(shape, grid, strict=True))
    return (t, y, x)


SIZES = {
    "tiny": Size("tiny", (80, 16, 24)),
    "default": Size("default", DEFAULT_SHAPE),
    "large": Size("large", (1460, 480, 720)),
}


def scale(index: int, axis: int, shape: tuple[int, ...]) -> int:
    """An index of the default shape, moved proportionally to ``shape``."""
    return index * shape[axis] // DEFAULT_SHAPE[axis]


def _span(start: int, stop: int, axis: int, shape: tuple[int, ...]) -> slice:
    return slice(scale(start, axis, shape), scale(stop, axis, shape))


def workload_keys(shape: tuple[int, ...]) -> dict[str, Key]:
    """The read workloads W1-W5 for an array of ``shape``."""
    t, y, x = (scale(i, k, shape) for k, i in enumerate((730, 96, 144)))
    return {
        "W1": (slice(None), slice(None), slice(None)),
        "W2": (t, slice(None), slice(None)),
        "W3": (slice(None), y, x),
        "W4": (_span(365, 730, 0, shape), _span(38, 96, 1, shape), _span(57, 158, 2, shape)),
        "W5": (slice(None, None, 4), slice(None, None, 2), slice(None, None, 2)),
    }


def point_key(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The point that the OPEN workload reads (the middle of the array)."""
    return tuple(n // 2 for n in shape)


def describe(key: Key) -> str:
    return "[" + ", ".join(_describe_one(k) for k in key) + "]"


def _describe_one(k: int | slice) -> str:
    if isinstance(k, int):
        return str(k)
    text = f"{'' if k.start is None else k.start}:{'' if k.stop is None else k.stop}"
    return text + (f":{k.step}" if k.step is not None else "")


def encode_key(key: Key) -> list[object]:
    return [k if isinstance(k, int) else [k.start, k.stop, k.step] for k in key]


def decode_key(items: list[object]) -> Key:
    return tuple(k if isinstance(k, int) else slice(*k) for k in items)  # type: ignore[misc]
