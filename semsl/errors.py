"""The semsl exception hierarchy.

Every error semsl raises on purpose is a :class:`SemslError`.  Subclasses also inherit
the builtin exception a netCDF4-python user would catch for the same problem
(``FileNotFoundError`` for a missing fragment, ``ValueError`` for a malformed master),
so existing ``except`` clauses keep working.  Messages name the master file, the
variable and the fragment URI involved, and say what to do.
"""

from __future__ import annotations

__all__ = [
    "AggregationFormatError",
    "ConfigError",
    "FragmentChecksumError",
    "FragmentDtypeError",
    "FragmentError",
    "FragmentLocationError",
    "FragmentNotFoundError",
    "FragmentReadError",
    "FragmentShapeError",
    "FragmentUnitsError",
    "MasterWriteError",
    "ObjectNotFoundError",
    "SemslError",
    "SemslWarning",
    "StorageAccessError",
    "StorageError",
    "StorageTimeoutError",
    "SubarrayShapeError",
    "UnsupportedFeatureError",
]


class SemslError(Exception):
    """Base class of every error raised by semsl."""


class SemslWarning(UserWarning):
    """Base class of every warning issued by semsl."""


class AggregationFormatError(SemslError, ValueError):
    """A master file's aggregation attributes or variables are malformed.

    The message names the master, the variable and the attribute or variable at fault.
    """


class SubarrayShapeError(SemslError, ValueError):
    """A requested fragment shape (``subarray_shape``) or size cannot be used."""


class FragmentError(SemslError):
    """A fragment of an aggregated variable cannot be used.

    Parameters
    ----------
    message
        What is wrong and what to do.
    master
        Path or URI of the master-array file.
    variable
        Name of the aggregated variable (its path inside the master).
    uri
        The fragment's URI as resolved against the master's location.
    """

    def __init__(self, message: str, *, master: str, variable: str, uri: str) -> None:
        self.master = master
        self.variable = variable
        self.uri = uri
        super().__init__(
            f"{message} (master {master!r}, variable {variable!r}, fragment {uri!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive pickling (dask, multiprocessing).
        return (_rebuild_fragment_error, (type(self), self.args[0], self.master,
                                          self.variable, self.uri))


def _rebuild_fragment_error(
    cls: type[FragmentError], text: str, master: str, variable: str, uri: str
) -> FragmentError:
    err = cls.__new__(cls)
    err.master, err.variable, err.uri = master, variable, uri
    Exception.__init__(err, text)
    return err


class FragmentLocationError(FragmentError, PermissionError):
    """A fragment URI found in a master points outside the allowed locations.

    By default only the master's own folder (or prefix) is allowed; more roots come from
    the configuration's ``allowed_roots`` or ``Dataset(..., allowed_roots=[...])``.
    """


class FragmentChecksumError(FragmentError, ValueError):
    """A fragment's data do not match the checksum recorded in the master."""


class FragmentNotFoundError(FragmentError, FileNotFoundError):
    """A fragment the master lists as present does not exist."""


class FragmentReadError(FragmentError, OSError):
    """A fragment exists but cannot be opened or read as netCDF."""


class FragmentShapeError(FragmentError, ValueError):
    """A fragment's variable has another shape than the master's map says."""


class FragmentDtypeError(FragmentError, TypeError):
    """A fragment's variable has a data type that cannot stand for the master's."""


class FragmentUnitsError(FragmentError, ValueError):
    """A fragment's units differ from the master's and cannot be converted."""


class MasterWriteError(SemslError, OSError):
    """Writing the master file failed; the previous master (if any) was kept."""


class UnsupportedFeatureError(SemslError, ValueError):
    """A netCDF4 feature or keyword that semsl cannot honour for this dataset."""


class ConfigError(SemslError, ValueError):
    """The user configuration file is invalid; the message names the file and the key."""


class StorageError(SemslError, OSError):
    """A storage backend could not complete an operation; the message names the URI."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The object (file, S3 key, bucket) does not exist."""


class StorageAccessError(StorageError, PermissionError):
    """The storage refused access (credentials, permissions)."""


class StorageTimeoutError(StorageError, TimeoutError):
    """The storage did not answer within the configured time."""
