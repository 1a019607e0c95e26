"""Fixtures of the command-line tests: the command's environment, S3 backends reset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from semsl.backends import registry
from semsl.config import set_config


@pytest.fixture
def s3(bucket: str) -> Iterator[str]:
    """``s3://<bucket>`` on the test server, for the command and for this process."""
    set_config(None)
    registry.reset()
    try:
        yield f"s3://{bucket}"
    finally:
        registry.reset()
        set_config(None)
