"""The version of semsl (single source for the package metadata)."""

__version__ = "0.1.0.dev0"
