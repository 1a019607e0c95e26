"""Where fragments may be read from: fragment URIs in a master are data, not trust.

A master found on disk or in a bucket may name any file or URL as a fragment.  Once
allowed roots are given (the configuration's ``allowed_roots`` or
``Dataset(..., allowed_roots=[...])``), the resolved location must lie under one of
them, the master's own folder (or prefix) or a folder a writer chose for fragments in
this session, before anything is opened.  Local paths are compared after resolving
symbolic links and ``..``, so neither can escape.  Without configured roots every
location is allowed for now (the reliability work makes the master's folder the
default limit, with the command line's options to widen it).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from urllib.parse import urlsplit

from semsl.backends import registry

__all__ = ["AllowedRoots"]


class AllowedRoots:
    """A set of location prefixes that fragment URIs must fall under.

    ``enforced=False`` allows every location (the policy while no roots are
    configured; see the module docstring).
    """

    def __init__(self, roots: Iterable[str], *, enforced: bool = True) -> None:
        self.enforced = enforced
        self._local: list[str] = []
        self._remote: list[str] = []
        for root in roots:
            self.add(root)

    def add(self, root: str) -> None:
        """Allow everything under ``root`` (a folder, path prefix or URI prefix)."""
        if registry.is_remote(root):
            self._remote.append(_normal_remote(root).rstrip("/") + "/")
        else:
            self._local.append(os.path.realpath(_local(root)).rstrip(os.sep) + os.sep)

    def allows(self, location: str) -> bool:
        """Whether ``location`` (a resolved path or absolute URI) is under a root."""
        if not self.enforced:
            return True
        if registry.is_remote(location):
            target = _normal_remote(location)
            return any(target.startswith(root) for root in self._remote)
        path = os.path.realpath(_local(location))
        return any(path.startswith(root) for root in self._local)


def _local(text: str) -> str:
    return urlsplit(text).path if text.startswith("file:") else text


def _normal_remote(uri: str) -> str:
    """A URI with its path normalised (no ``..`` escapes) and a lower-case host."""
    parts = urlsplit(uri)
    path = posixpath.normpath(parts.path or "/")
    return parts._replace(netloc=parts.netloc.lower(), path=path).geturl()
