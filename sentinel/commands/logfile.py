"""The event log a command reads (`replay`, `learn`, `report`): a file, or standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sentinel.core.errors import UsageError


@contextmanager
def open_log(name: str, command: str) -> Iterator[IO[bytes]]:
    """The log as binary lines; `-` is standard input. A missing file is a usage error that
    names the `command` and the file."""
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = Path(name).open("rb")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise UsageError(f"{command}: cannot read {name}: {error.strerror}") from None
    with handle:
        yield handle
