"""Compiles the hot path with mypyc where a C compiler is found; pure Python otherwise.

Everything else about the package is in pyproject.toml. `SENTINEL_PURE=1` skips the compiler
(docs/design.md, "Speed").
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# What profiling showed to matter (docs/design.md, "Speed"): the pipeline's loop and all it
# calls per record or per batch. Not the rest of the adapters: their time is spent in
# aiokafka, SQLite and the network.
COMPILED = [
    "sentinel/core/events/records.py",
    "sentinel/core/timefmt.py",
    "sentinel/core/events/framing.py",
    "sentinel/core/events/envelope.py",
    "sentinel/core/events/structured_skim.py",
    "sentinel/core/events/decoders.py",
    "sentinel/core/engine/retention.py",
    "sentinel/core/engine/deadlines.py",
    "sentinel/core/engine/rollout.py",
    "sentinel/core/engine/snapshots.py",
    "sentinel/core/rules/expectations.py",
    "sentinel/core/engine/findings.py",
    # Per event (trace context) and per finding (ids, sentence): added with tracing, 49,000
    # -> 56,000 events/s in replay (bench.replay_bench, one machine, one run).
    "sentinel/core/engine/tracing.py",
    "sentinel/core/engine/kinds.py",
    "sentinel/core/engine/actions.py",
    "sentinel/core/engine/ports.py",
    "sentinel/core/engine/limits.py",
    "sentinel/core/engine/finding_factory.py",
    "sentinel/core/engine/writer_schemas.py",
    "sentinel/core/events/schemas.py",
    "sentinel/core/engine/event_checks.py",
    "sentinel/core/engine/capacity.py",
    "sentinel/core/engine/watermarks.py",
    "sentinel/core/ports/history.py",
    "sentinel/store/codec.py",
    "sentinel/store/history_codec.py",
    "sentinel/registry/lookup.py",
    "sentinel/core/engine/engine.py",
    "sentinel/core/pipeline/pipeline.py",
    "sentinel/core/pipeline/replay.py",
]


def _say(message: str) -> None:
    print(f"rollout-sentinel: {message}", file=sys.stderr)


def _compiler() -> str | None:
    """The C compiler setuptools would run ($CC, else Python's own), else cc or gcc."""
    named = os.environ.get("CC", "").split() or str(sysconfig.get_config_var("CC") or "").split()
    for name in [*named[:1], "cc", "gcc"]:
        if shutil.which(name):
            return name
    return None


def _extensions() -> list[Any]:
    if os.environ.get("SENTINEL_PURE", "") not in ("", "0"):
        _say("SENTINEL_PURE is set: pure-Python modules, not compiled")
        return []
    if _compiler() is None:
        _say("no C compiler found: pure-Python modules, not compiled (slower, same results)")
        return []
    from mypyc.build import mypycify  # noqa: PLC0415 - a build requirement, needed only here

    # Imports of other packages are not needed to compile (and not installed in an isolated
    # build): they are typed Any here and checked by `make lint`; so is a class built on one
    # (msgspec's Struct in core/events/peek.py, which a compiled module imports).
    options = [
        "--ignore-missing-imports",
        "--allow-subclassing-any",
        "--no-warn-unused-ignores",
        "--no-warn-return-any",
    ]
    try:
        extensions: list[Any] = mypycify(
            [*options, *COMPILED], opt_level="3", group_name="sentinel"
        )
    except (Exception, SystemExit) as error:  # mypyc exits on a type error it cannot compile
        _say(f"mypyc refused the sources ({type(error).__name__}): pure-Python modules")
        return []
    return extensions


class _OptionalBuildExt(build_ext):  # type: ignore[misc]
    """A failed compilation leaves the pure-Python modules in place instead of failing."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # any compiler failure means the same
            # All or nothing: a module compiled without the shared library it needs would
            # not import.
            for ext in self.extensions:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)
            problem = type(error).__name__
            _say(f"compiling failed ({problem}; pip -v shows why): pure-Python modules")


setup(ext_modules=_extensions(), cmdclass={"build_ext": _OptionalBuildExt})
