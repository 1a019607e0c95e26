"""The jobs behind the ``semsl`` command line, one module per job.

* :mod:`semsl.archive.split` - a netCDF file into a master and fragments;
* :mod:`semsl.archive.aggregate` - a CF-1.13 master over existing files, in place;
* :mod:`semsl.archive.rebuild` - a lost master from its self-describing fragments;
* :mod:`semsl.archive.inspect` - ``ls`` (discover datasets) and ``info`` (one master);
* :mod:`semsl.archive.verify` - every fragment of a master exists and fits;
* :mod:`semsl.archive.move` - move or copy a whole archive between storages.

Every job takes URIs (local paths, ``s3://``, any fsspec protocol), reports progress
through a :class:`semsl.archive._common.Console` and returns a result object with the
problems it found, a text rendering and a JSON-ready rendering.  The command line
itself (:mod:`semsl.cli`) only parses arguments and prints.
"""

from __future__ import annotations

__all__: list[str] = []
