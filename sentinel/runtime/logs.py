"""Logs on standard error, one JSON object per line, so log pipelines need no parsing rules."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from sentinel.core.timefmt import format_rfc3339

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """`{"at", "level", "logger", "message", ...extra}`; exceptions as one escaped string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": format_rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str) -> None:
    """Route every logger (ours, aiokafka's, aiohttp's) to standard error as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka is chatty at INFO about every group join; keep it to warnings unless debugging.
    if level != "debug":
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
