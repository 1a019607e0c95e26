"""User configuration: hosts, S3 options, resource budgets, allowed roots and sizes.

The configuration is a JSON file, found in this order:

1. the ``path`` given to :func:`load_config`;
2. the file named by the environment variable ``SEMSL_CONFIG``;
3. ``~/.semsl.json`` if it exists;
4. otherwise the built-in defaults.

``user_config/semsl.json.template`` documents every key.  Keys that begin with ``_``
are comments and are ignored at every level (the template documents key ``k`` with a
sibling ``"_k"`` and a section with ``"_doc"``), except deeper inside the ``fsspec``
storage options, which are passed on unchanged.  Unknown keys and values of the wrong
type are errors, so a typo is never silently ignored; every error is a
:class:`semsl.errors.ConfigError` naming the file, the key path (for example
``hosts.cedaproj.endpoint_url``) and what was expected.  Credentials never appear in
error messages, logs or reprs, and a file holding credentials that its group or others
may read draws a :class:`ConfigPermissionWarning`.

A few settings can be overridden by environment variables, which win over the file:
``SEMSL_MEMORY_BUDGET`` (a size), ``SEMSL_OPEN_FILES``, ``SEMSL_MAX_CONCURRENCY``
(integers) and ``SEMSL_CACHE_DIR`` (a folder).

Sizes are integers (bytes) or strings such as ``"50MB"`` or ``"1GiB"``; see
:func:`parse_size`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import logging
import math
import os
import re
import stat
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from semsl.errors import ConfigError, SemslWarning

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_MAX_SUBARRAY_SIZE",
    "MIN_PART_SIZE",
    "Config",
    "ConfigPermissionWarning",
    "HostConfig",
    "ResourceConfig",
    "S3Options",
    "config_from_dict",
    "default_cache_dir",
    "default_memory_budget",
    "find_config_file",
    "get_config",
    "load_config",
    "parse_size",
    "set_config",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Fragment size used when ``createVariable`` gets neither ``subarray_shape`` nor
#: ``max_subarray_size``.
DEFAULT_MAX_SUBARRAY_SIZE = 50 * 1000**2

#: Environment variable naming the configuration file.
CONFIG_ENV_VAR = "SEMSL_CONFIG"

#: Smallest part of a multipart upload that S3 accepts (all parts but the last).
MIN_PART_SIZE = 5 * 1024**2
#: Largest part of a multipart upload that S3 accepts.
MAX_PART_SIZE = 5 * 1024**3

_GiB = 1024**3

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(value: int | float | str, *, what: str = "size") -> int:
    """Return a byte count from an integer or a string like ``"50MB"`` or ``"1GiB"``.

    Parameters
    ----------
    value
        A positive number of bytes, or a number followed by a unit: ``B``, ``kB``,
        ``MB``, ``GB``, ``TB`` (powers of 1000) or ``KiB``, ``MiB``, ``GiB``, ``TiB``
        (powers of 1024); units are case-insensitive.
    what
        Name of the setting, used in the error message.

    Raises
    ------
    ValueError
        If the value is not a positive size; the message names ``what``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a size such as 50000000 or '50MB', not {value!r}")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise ValueError(
                f"{what} must be a size such as 50000000, '50MB' or '1GiB', not {value!r}"
            )
        number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{what} must be larger than zero, not {value!r}")
    return size


class ConfigPermissionWarning(SemslWarning):
    """The configuration file holds credentials and its group or others may read it."""


# --------------------------------------------------------------------------- checks
# A check takes a raw value (from JSON or from a program) and returns the normalised
# value, or raises _CheckError saying what was expected.  Checks of secret fields never
# put the value in the message.

Check = Callable[[Any], Any]


class _CheckError(Exception):
    """A value failed its check; the text says what was expected."""


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _size(value: Any) -> int:
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        raise _CheckError(f"expected a size such as 50000000 or '50MB'; got {_type_name(value)}")
    try:
        return parse_size(value)
    except ValueError:
        pass
    raise _CheckError(f"expected a size such as 50000000, '50MB' or '1GiB'; got {value!r}")


def _int_at_least(low: int) -> Check:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _CheckError(f"expected an integer >= {low}; got {_type_name(value)}")
        if value < low:
            raise _CheckError(f"expected an integer >= {low}; got {value}")
        return value

    return check


def _seconds(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _CheckError(f"expected a number of seconds; got {_type_name(value)}")
    if not (math.isfinite(value) and value > 0):
        raise _CheckError(f"expected a positive, finite number of seconds; got {value}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _CheckError(f"expected true or false; got {_type_name(value)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _CheckError(f"expected a non-empty string; got {_type_name(value)}")
    return value


def _optional(check: Check) -> Check:
    def optional(value: Any) -> Any:
        return None if value is None else check(value)

    return optional


def _secret(value: Any) -> str | None:
    # Never echo the value, not even its length.
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _CheckError(f"expected a non-empty string or null; got {_type_name(value)}")
    return value


def _choice(*options: str, fold_case: bool = False) -> Check:
    def check(value: Any) -> str:
        if isinstance(value, str):
            for option in options:
                if value == option or (fold_case and value.lower() == option.lower()):
                    return option
        listed = ", ".join(repr(option) for option in options)
        shown = repr(value) if isinstance(value, str) else _type_name(value)
        raise _CheckError(f"expected one of {listed}; got {shown}")

    return check


def _endpoint_url(value: Any) -> str:
    # The URL is not echoed: a user may have pasted credentials into it.
    text = _text(value)
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _CheckError("expected an http:// or https:// URL such as 'https://s3.example.com'")
    if parts.username is not None or parts.password is not None:
        raise _CheckError(
            "credentials do not belong in the URL; use access_key_id and secret_access_key"
        )
    return text


_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ALIAS_PROBLEM = (
    "expected a host alias of letters, digits, '.', '_' and '-' that begins with a "
    "letter or digit"
)


def _alias(value: Any) -> str:
    if not isinstance(value, str) or not _ALIAS.match(value):
        raise _CheckError(_ALIAS_PROBLEM)
    return value


def _apply_checks(obj: object, checks: Mapping[str, Check]) -> None:
    """Normalise the fields of a frozen dataclass ``obj`` with ``checks``."""
    for name, check in checks.items():
        try:
            value = check(getattr(obj, name))
        except _CheckError as err:
            problem = str(err)
        else:
            object.__setattr__(obj, name, value)
            continue
        raise _FieldError(type(obj).__name__, name, problem)


class _FieldError(ConfigError):
    """A field of a configuration object failed its check (raised on construction)."""

    def __init__(self, owner: str, name: str, problem: str) -> None:
        self.field = name
        self.problem = problem
        super().__init__(f"{owner}.{name}: {problem}")


def _masked_repr(obj: Any, secret: frozenset[str] = frozenset()) -> str:
    items = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        shown = "'***'" if f.name in secret and value is not None else _mask_repr(value)
        items.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(items)})"


# ---------------------------------------------------------------------- the classes


@dataclass(frozen=True, repr=False)
class HostConfig:
    """One S3-compatible storage host, named by its alias.

    A URI ``s3://<alias>/<bucket>/<key>`` is served by the host with that alias.

    Attributes
    ----------
    alias
        Short name of the host used in URIs (letters, digits, ``.``, ``_``, ``-``).
    endpoint_url
        ``http://`` or ``https://`` URL of the S3 endpoint; ``None`` for AWS.
    region
        Region name passed to the S3 client, or ``None``.
    profile
        Name of a profile in the AWS shared credentials/config files, used instead of
        keys; ``None`` to use the keys here or the default credential chain.
    access_key_id, secret_access_key, session_token
        Credentials; shown as ``'***'`` in reprs and never put in messages.
    backend
        ``"s3_async"`` (aiobotocore, many requests in flight; the default) or ``"s3"``
        (botocore, synchronous).
    api
        Request signature: ``"S3v4"`` (default) or ``"S3v2"``.
    addressing_style
        ``"auto"`` (default), ``"path"`` (``https://host/bucket/key``, usual for
        non-AWS stores) or ``"virtual"`` (``https://bucket.host/key``).
    """

    alias: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    backend: Literal["s3", "s3_async"] = "s3_async"
    api: str = "S3v4"
    addressing_style: Literal["path", "virtual", "auto"] = "auto"

    SECRETS: ClassVar[frozenset[str]] = frozenset(
        {"access_key_id", "secret_access_key", "session_token"}
    )
    _CHECKS: ClassVar[Mapping[str, Check]] = {
        "alias": _alias,
        "endpoint_url": _optional(_endpoint_url),
        "region": _optional(_text),
        "profile": _optional(_text),
        "access_key_id": _secret,
        "secret_access_key": _secret,
        "session_token": _secret,
        "backend": _choice("s3", "s3_async"),
        "api": _choice("S3v4", "S3v2", fold_case=True),
        "addressing_style": _choice("path", "virtual", "auto"),
    }

    def __post_init__(self) -> None:
        _apply_checks(self, self._CHECKS)
        name = type(self).__name__
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise _FieldError(name, "secret_access_key" if self.access_key_id else
                              "access_key_id",
                              "access_key_id and secret_access_key must be given together")
        if self.session_token is not None and self.access_key_id is None:
            raise _FieldError(name, "session_token",
                              "a session_token needs access_key_id and secret_access_key")
        if self.profile is not None and self.access_key_id is not None:
            raise _FieldError(name, "profile",
                              "give either a profile or access keys, not both")

    def __repr__(self) -> str:
        return _masked_repr(self, self.SECRETS)

    __str__ = __repr__

    @property
    def has_credentials(self) -> bool:
        """Whether keys (not a profile) are configured for this host."""
        return self.access_key_id is not None

    @property
    def signature_version(self) -> str:
        """The botocore ``signature_version`` for :attr:`api` (``"s3v4"`` or ``"s3"``)."""
        return "s3v4" if self.api == "S3v4" else "s3"


@dataclass(frozen=True, repr=False)
class S3Options:
    """Options shared by both S3 backends.

    Attributes
    ----------
    max_part_size
        Bytes per part of a multipart upload or download (default 8 MiB; S3 needs at
        least 5 MiB and at most 5 GiB).
    multipart_threshold
        Objects at least this large are moved in parts; ``0`` (the default) means
        :attr:`max_part_size`.
    max_concurrency
        Most requests (parts, fragments) in flight at once (default 16).
    multipart_upload, multipart_download
        Whether large objects are uploaded/downloaded in parts (default ``True``).
    connect_timeout, read_timeout
        Seconds to wait for a connection and for a response (default 10 and 60).
    retries
        Attempts after the first one for a failed request (default 5); the only retry
        policy, not stacked on botocore's own.
    """

    max_part_size: int = 8 * 1024**2
    multipart_threshold: int = 0
    max_concurrency: int = 16
    multipart_upload: bool = True
    multipart_download: bool = True
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5

    _CHECKS: ClassVar[Mapping[str, Check]] = {
        "max_part_size": _size,
        "max_concurrency": _int_at_least(1),
        "multipart_upload": _bool,
        "multipart_download": _bool,
        "connect_timeout": _seconds,
        "read_timeout": _seconds,
        "retries": _int_at_least(0),
    }

    def __post_init__(self) -> None:
        _apply_checks(self, self._CHECKS)
        name = type(self).__name__
        if not MIN_PART_SIZE <= self.max_part_size <= MAX_PART_SIZE:
            raise _FieldError(name, "max_part_size",
                              f"expected a size from 5MiB to 5GiB (S3's limits for a part);"
                              f" got {self.max_part_size} bytes")
        if self.multipart_threshold in (0, None):
            object.__setattr__(self, "multipart_threshold", self.max_part_size)
        else:
            _apply_checks(self, {"multipart_threshold": _size})

    def __repr__(self) -> str:
        return _masked_repr(self)

    __str__ = __repr__


def _physical_memory() -> int | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def default_memory_budget() -> int:
    """A quarter of the physical memory, or 1 GiB when that is unknown."""
    memory = _physical_memory()
    return memory // 4 if memory else _GiB


def default_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/semsl``, else ``~/.cache/semsl``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.join(_home(env), ".cache")
    return os.path.join(base, "semsl")


@dataclass(frozen=True, repr=False)
class ResourceConfig:
    """Budgets for memory and open files, and the cache folder.

    Attributes
    ----------
    memory_budget
        Bytes semsl may hold for fetched fragments and results before spilling to
        memory-mapped files in :attr:`cache_dir` (default: a quarter of the physical
        memory, or 1 GiB when that is unknown).
    open_files
        Most fragment files kept open at once (default 64).
    cache_dir
        Folder for caches and spilled arrays (default ``$XDG_CACHE_HOME/semsl`` or
        ``~/.cache/semsl``).
    """

    memory_budget: int = field(default_factory=default_memory_budget)
    open_files: int = 64
    cache_dir: str = field(default_factory=default_cache_dir)

    _CHECKS: ClassVar[Mapping[str, Check]] = {
        "memory_budget": _size,
        "open_files": _int_at_least(1),
        "cache_dir": _text,
    }

    def __post_init__(self) -> None:
        _apply_checks(self, self._CHECKS)

    def __repr__(self) -> str:
        return _masked_repr(self)

    __str__ = __repr__


def _roots(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _CheckError(f"expected a list of URI prefixes; got {_type_name(value)}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise _CheckError("expected every entry to be a non-empty string")
    return tuple(value)


def _fsspec_options(value: Any) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, Mapping):
        raise _CheckError(f"expected an object of protocol -> options; got {_type_name(value)}")
    for protocol, options in value.items():
        if not isinstance(options, Mapping):
            raise _CheckError(f"expected the options of protocol {protocol!r} to be an object")
    return _FrozenMapping(
        {str(p): _FrozenMapping(copy.deepcopy(dict(o))) for p, o in value.items()}
    )


_V = TypeVar("_V")


class _FrozenMapping(Mapping[str, _V]):
    """A read-only mapping whose repr hides values of credential-like keys.

    Unlike ``types.MappingProxyType`` it pickles (dask, multiprocessing).
    """

    def __init__(self, data: Mapping[str, _V]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return _mask_repr(self._data)


@dataclass(frozen=True, repr=False)
class Config:
    """The whole user configuration.

    Attributes
    ----------
    hosts
        S3 hosts by alias (read-only mapping).
    s3
        Options of the S3 backends.
    fsspec
        Storage options per fsspec protocol (``{"https": {"headers": {...}}}``), passed
        to the filesystem unchanged (read-only mapping).
    resources
        Memory and open-file budgets, cache folder.
    allowed_roots
        URI or path prefixes from which fragment files may be read; empty leaves the
        decision to semsl's built-in policy.
    default_max_subarray_size
        Fragment size in bytes when ``createVariable`` is given no fragment shape or
        size (default 50 MB).
    source
        Absolute path of the file the configuration was read from, or ``None``.
    """

    hosts: Mapping[str, HostConfig] = field(default_factory=dict)
    s3: S3Options = field(default_factory=S3Options)
    fsspec: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resources: ResourceConfig = field(default_factory=ResourceConfig)
    allowed_roots: tuple[str, ...] = ()
    default_max_subarray_size: int = DEFAULT_MAX_SUBARRAY_SIZE
    source: str | None = None

    _CHECKS: ClassVar[Mapping[str, Check]] = {
        "fsspec": _fsspec_options,
        "allowed_roots": _roots,
        "default_max_subarray_size": _size,
        "source": _optional(_text),
    }

    def __post_init__(self) -> None:
        _apply_checks(self, self._CHECKS)
        name = type(self).__name__
        for attr, cls in (("s3", S3Options), ("resources", ResourceConfig)):
            if not isinstance(getattr(self, attr), cls):
                raise _FieldError(name, attr, f"expected a {cls.__name__}")
        if not isinstance(self.hosts, Mapping):
            raise _FieldError(name, "hosts", "expected a mapping of alias -> HostConfig")
        for alias, host in self.hosts.items():
            if not isinstance(host, HostConfig) or host.alias != alias:
                raise _FieldError(name, "hosts",
                                  f"expected the HostConfig with alias {alias!r} under that key")
        object.__setattr__(self, "hosts", _FrozenMapping(self.hosts))

    def __repr__(self) -> str:
        return _masked_repr(self)

    __str__ = __repr__

    @property
    def holds_secrets(self) -> bool:
        """Whether any host has keys or any fsspec option looks like a credential."""
        return any(h.has_credentials for h in self.hosts.values()) or any(
            True for _ in _secret_strings(self.fsspec)
        )


# ------------------------------------------------------------------------- secrets

# Option names that hold credentials, here and in fsspec storage options (s3fs uses
# "key"/"secret", others "password", "token", "client_secret", ...).
_SECRET_KEY = re.compile(
    r"secret|passw|token|credential|access_key|private|auth|^key$", re.IGNORECASE
)


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _secret_strings(value: Any) -> Iterator[str]:
    """Every non-empty string held under a credential-like key (comments skipped)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("_"):
                continue
            if _is_secret_key(key):
                yield from (s for s in _strings(item) if s)
            else:
                yield from _secret_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_strings(item)


def _mask(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: "***" if _is_secret_key(k) and v is not None else _mask(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def _mask_repr(value: Any) -> str:
    if isinstance(value, HostConfig | S3Options | ResourceConfig):
        return repr(value)
    if isinstance(value, Mapping):
        if all(isinstance(v, HostConfig) for v in value.values()):
            return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in value.items()) + "}"
        return repr(_mask(_plain(value)))
    return repr(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value  # a list keeps its items: _mask handles them


# -------------------------------------------------------------------------- loading


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers which keys appeared more than once."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    seen: set[str] = set()
    duplicates = []
    for key, value in pairs:
        if key in seen and not key.startswith("_"):
            duplicates.append(key)
        seen.add(key)
        obj[key] = value
    obj.duplicates = tuple(duplicates)
    return obj


_SECTIONS: dict[str, type[Any]] = {"s3": S3Options, "resources": ResourceConfig}
_TOP_KEYS = ("hosts", "s3", "fsspec", "resources", "allowed_roots",
             "default_max_subarray_size")
# Keys whose null value means "the default" rather than a type error.
_NULL_IS_DEFAULT = frozenset({"multipart_threshold", "memory_budget", "cache_dir"})


class _Loader:
    """Turns the parsed JSON of one file into a :class:`Config`, with located errors."""

    def __init__(self, data: Any, source: str | None, base_dir: str,
                 environ: Mapping[str, str]) -> None:
        self.data = data
        self.source = source
        self.base_dir = base_dir
        self.environ = environ
        # Longest first, so that a secret containing another is redacted whole.
        self.secrets = sorted(set(_secret_strings(data)), key=len, reverse=True)

    def fail(self, path: str, problem: str) -> ConfigError:
        where = f"config file {self.source!r}" if self.source else "configuration"
        message = f"{where}: key {path!r}: {problem}"
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return ConfigError(message)

    def section(self, value: Any, path: str,
                allowed: tuple[str, ...] | None) -> dict[str, Any]:
        """Check that ``value`` is an object with only ``allowed`` keys (``None``: any).

        Keys that begin with ``_`` are comments and are dropped.
        """
        if not isinstance(value, Mapping):
            raise self.fail(path or "<top level>",
                            f"expected a JSON object; got {_json_type(value)}")
        for key in getattr(value, "duplicates", ()):
            raise self.fail(_join(path, key), "appears more than once; keep one")
        for key in value:
            if allowed is not None and not key.startswith("_") and key not in allowed:
                raise self.fail(_join(path, key), _unknown(key, allowed))
        return {k: v for k, v in value.items() if not k.startswith("_")}

    def build(self, cls: type[_T], kwargs: dict[str, Any], path: str) -> _T:
        """Construct ``cls(**kwargs)``, turning a field's failed check into a located error."""
        try:
            return cls(**kwargs)
        except _FieldError as err:
            key, problem = err.field, err.problem
        # Raised outside the except block: no chained exception to carry a value along.
        raise self.fail(_join(path, key), problem)

    def options(self, cls: type[Any], value: Any, path: str) -> Any:
        """Build the options section ``path`` (``s3``, ``resources``)."""
        names = tuple(f.name for f in dataclasses.fields(cls))
        kwargs = self.section(value, path, names)
        kwargs = {k: v for k, v in kwargs.items() if not (v is None and k in _NULL_IS_DEFAULT)}
        if cls is ResourceConfig:
            kwargs["cache_dir"] = self.cache_dir(kwargs.get("cache_dir"), path)
        return self.build(cls, kwargs, path)

    def cache_dir(self, value: Any, path: str) -> str:
        """The cache folder: ``~`` expanded, relative to the config file's folder."""
        if value is None:
            return default_cache_dir(self.environ)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(_join(path, "cache_dir"),
                            f"expected a folder path; got {_json_type(value)}")
        return os.path.join(self.base_dir, _expand_home(value, self.environ))

    def hosts(self, value: Any) -> dict[str, HostConfig]:
        """Build the ``hosts`` section: alias -> host."""
        names = tuple(f.name for f in dataclasses.fields(HostConfig) if f.name != "alias")
        hosts = {}
        for alias, entry in self.section(value, "hosts", None).items():
            path = _join("hosts", alias)
            if not _ALIAS.match(alias):
                raise self.fail(path, _ALIAS_PROBLEM)
            kwargs = self.section(entry, path, names)
            hosts[alias] = self.build(HostConfig, {"alias": alias, **kwargs}, path)
        return hosts

    def fsspec(self, value: Any) -> dict[str, dict[str, Any]]:
        """Build the ``fsspec`` section: protocol -> storage options."""
        return {protocol: self.section(options, _join("fsspec", protocol), None)
                for protocol, options in self.section(value, "fsspec", None).items()}

    def config(self) -> Config:
        """The validated configuration."""
        top = self.section(self.data, "", _TOP_KEYS)
        kwargs: dict[str, Any] = {"source": self.source}
        if "hosts" in top:
            kwargs["hosts"] = self.hosts(top.pop("hosts"))
        if "fsspec" in top:
            kwargs["fsspec"] = self.fsspec(top.pop("fsspec"))
        for name, cls in _SECTIONS.items():
            kwargs[name] = self.options(cls, top.pop(name, {}), name)
        kwargs.update(top)
        return self.build(Config, kwargs, "")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean",
             int: "number", float: "number", type(None): "null"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _unknown(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    expected = ", ".join(allowed) if allowed else "no keys"
    return f"unknown key (expected one of: {expected}){hint}"


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def _expand_home(path: str, environ: Mapping[str, str]) -> str:
    if path == "~" or path.startswith(("~/", "~" + os.sep)):
        return _home(environ) + path[1:]
    return path


def find_config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file that :func:`load_config` would read, or ``None``.

    Parameters
    ----------
    environ
        The environment to look in (default ``os.environ``).

    Returns
    -------
    Path or None
        ``$SEMSL_CONFIG`` if set (whether or not it exists: a named file that is missing
        is an error when loading), else ``~/.semsl.json`` if it exists, else ``None``.
    """
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_ENV_VAR)
    if named:
        return Path(os.path.abspath(_expand_home(named, env)))
    home_file = Path(_home(env), ".semsl.json")
    return home_file if home_file.is_file() else None


def _read_json(path: Path, how: str) -> Any:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = f"does not exist ({how})" if how else "does not exist"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except OSError as err:
        problem = f"cannot be read: {err.strerror or type(err).__name__}"
    else:
        problem = ""
    if problem:
        raise ConfigError(f"config file {source!r} {problem}")
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as err:
        # Only the parser's own words and the place: never the text around it.
        problem = f"is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
    raise ConfigError(f"config file {source!r} {problem}")


def config_from_dict(
    data: Mapping[str, Any],
    *,
    source: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate a configuration given as a mapping (the parsed JSON of a config file).

    Parameters
    ----------
    data
        The configuration, in the JSON file's layout.
    source
        Where it came from; named in error messages and kept as :attr:`Config.source`.
        A relative ``cache_dir`` is taken relative to this file's folder.
    environ
        The environment (default ``os.environ``), for the default cache folder and the
        ``SEMSL_*`` overrides.

    Raises
    ------
    ConfigError
        If a key is unknown or a value invalid; the message names the key path.
    """
    env = os.environ if environ is None else environ
    name = os.path.abspath(source) if source is not None else None
    base_dir = os.path.dirname(name) if name else os.getcwd()
    config = _Loader(data, name, base_dir, env).config()
    return _apply_environment(config, env)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate the user configuration.

    Parameters
    ----------
    path
        The JSON file to read.  By default the file named by ``$SEMSL_CONFIG``, else
        ``~/.semsl.json`` if it exists, else no file (the defaults).
    environ
        The environment (default ``os.environ``): ``SEMSL_CONFIG``, ``HOME``,
        ``XDG_CACHE_HOME`` and the overrides ``SEMSL_MEMORY_BUDGET``,
        ``SEMSL_OPEN_FILES``, ``SEMSL_CACHE_DIR`` and ``SEMSL_MAX_CONCURRENCY``, which
        win over the file.

    Returns
    -------
    Config
        The validated configuration.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable, not JSON, or invalid; the message names the
        file and the key path and never contains a credential.

    Warns
    -----
    ConfigPermissionWarning
        If the file holds credentials and its group or others have any access to it.
    """
    env = os.environ if environ is None else environ
    if path is not None:
        file, how = Path(os.path.abspath(os.fspath(path))), "given to load_config"
    else:
        found = find_config_file(env)
        if found is None:
            _log.debug("no semsl config file; using the defaults")
            return _apply_environment(Config(resources=ResourceConfig(
                cache_dir=default_cache_dir(env))), env)
        file, how = found, f"named by ${CONFIG_ENV_VAR}" if env.get(CONFIG_ENV_VAR) else ""
    data = _read_json(file, how)
    config = config_from_dict(data, source=file, environ=env)
    _check_permissions(file, data)
    _log.debug("read semsl config from %s", file)
    return config


def _check_permissions(path: Path, data: Any) -> None:
    if os.name == "nt" or next(_secret_strings(data), None) is None:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_IMODE(mode) & 0o077:
        warnings.warn(
            f"config file {str(path)!r} holds credentials but its group or others may "
            f"access it (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}",
            ConfigPermissionWarning,
            stacklevel=3,
        )


# ------------------------------------------------------------ environment overrides


def _env_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        pass
    raise _CheckError(f"expected an integer; got {text!r}")


def _env_path(text: str, environ: Mapping[str, str]) -> str:
    return os.path.abspath(_expand_home(text, environ))


# variable -> (section, field, conversion of the text)
_OVERRIDES: dict[str, tuple[str, str, Callable[[str, Mapping[str, str]], Any]]] = {
    "SEMSL_MEMORY_BUDGET": ("resources", "memory_budget", lambda t, _: t),
    "SEMSL_OPEN_FILES": ("resources", "open_files", lambda t, _: _env_int(t)),
    "SEMSL_CACHE_DIR": ("resources", "cache_dir", _env_path),
    "SEMSL_MAX_CONCURRENCY": ("s3", "max_concurrency", lambda t, _: _env_int(t)),
}


def _apply_environment(config: Config, environ: Mapping[str, str]) -> Config:
    """``config`` with the ``SEMSL_*`` overrides set in ``environ`` (empty means unset)."""
    for variable, (section, name, convert) in _OVERRIDES.items():
        text = environ.get(variable)
        if not text:
            continue
        try:
            value = convert(text, environ)
            updated = dataclasses.replace(getattr(config, section), **{name: value})
        except (_CheckError, _FieldError) as err:
            problem = getattr(err, "problem", str(err))
        else:
            config = dataclasses.replace(config, **{section: updated})
            continue
        raise ConfigError(f"environment variable {variable}: {problem}")
    return config


# ------------------------------------------------------------- the process config

_lock = threading.Lock()
_current: Config | None = None


def get_config(*, reload: bool = False) -> Config:
    """The process-wide configuration, loaded by :func:`load_config` on first use.

    Parameters
    ----------
    reload
        Read the configuration again (after the file or the environment changed).
    """
    global _current  # noqa: PLW0603 - the one process-wide cache
    with _lock:
        if _current is None or reload:
            _current = load_config()
        return _current


def set_config(config: Config | None) -> None:
    """Make ``config`` the process-wide configuration (``None``: load on next use)."""
    global _current  # noqa: PLW0603 - the one process-wide cache
    if config is not None and not isinstance(config, Config):
        raise TypeError(f"set_config expects a Config or None, not {type(config).__name__}")
    with _lock:
        _current = config
