"""Speed outside the code: which modules run compiled, running them pure, and the collector.

`setup.py` compiles the hot path with mypyc where a C compiler is found; the extension
modules then sit beside their sources and Python prefers them. `SENTINEL_PURE=1` in the
environment makes them invisible, so that the very same checkout runs (and is tested) as
pure Python too: `sentinel/__init__.py` installs `SourceOnly` before any other module loads,
and also when a source changed after it was compiled.
"""

from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

PURE_VARIABLE = "SENTINEL_PURE"
# The young generation is collected every 50,000 allocations instead of 700: a batch of 500
# records allocates about 10,000 objects, nearly all gone by the end of the batch, and each
# collection walked the engine's long-lived state for nothing (20% of replay's time).
GC_THRESHOLDS = (50_000, 20, 20)


class SourceOnly(importlib.abc.MetaPathFinder):
    """Finds `sentinel.*` modules as their `.py` files, never as compiled extensions."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or not fullname.startswith("sentinel."):
            return None
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            source = os.path.join(directory, f"{leaf}.py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None  # a package: the usual finders handle it


def pure_requested() -> bool:
    return os.environ.get(PURE_VARIABLE, "") not in ("", "0")


def stale_sources(package: str) -> list[str]:
    """Sources in the `package` folder of a checkout changed after they were compiled.

    An editable install compiles in place, and Python prefers the compiled module to the
    source beside it: edited code would not run until compiled again. Modules of one build
    also call into each other's compiled classes directly, so a stale one cannot be swapped
    alone: `sentinel/__init__.py` then runs every module pure (`make` compiles them again).

    Only in a checkout (`setup.py` beside the package): an installed wheel's files get the
    times of their installation, in any order, and nobody edits them.
    """
    if not os.path.isfile(os.path.join(package, os.pardir, "setup.py")):
        return []
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    stale = []
    for folder, _, names in sorted(os.walk(package)):
        for name in sorted(names):
            suffix = next((suffix for suffix in suffixes if name.endswith(suffix)), None)
            if suffix is None:
                continue
            source = os.path.join(folder, name[: -len(suffix)] + ".py")
            built = os.stat(os.path.join(folder, name)).st_mtime_ns
            if os.path.exists(source) and os.stat(source).st_mtime_ns > built:
                stale.append(source)
    return stale


def run_pure() -> None:
    """Load every `sentinel.*` module from source from now on (idempotent)."""
    if not any(isinstance(finder, SourceOnly) for finder in sys.meta_path):
        sys.meta_path.insert(0, SourceOnly())


def compiled_modules() -> list[str]:
    """The loaded `sentinel.*` modules that run compiled (extension modules)."""
    names = []
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        loader = getattr(spec, "loader", None)
        if name.startswith("sentinel.") and isinstance(
            loader, importlib.machinery.ExtensionFileLoader
        ):
            names.append(name)
    return sorted(names)


def describe() -> str:
    """One line on how the hot path runs here, for `make`, the tests and the benchmark."""
    for module in ("sentinel.core.pipeline.replay", "sentinel.core.events.schemas"):
        importlib.import_module(module)  # the hot path, loaded to see how it loads

    compiled = compiled_modules()
    if compiled:
        return f"sentinel: the hot path runs compiled ({len(compiled)} modules, mypyc)"
    if pure_requested():
        return f"sentinel: pure Python ({PURE_VARIABLE} is set)"
    stale = stale_sources(os.path.dirname(os.path.abspath(__file__)))
    if stale:
        changed = os.path.basename(stale[0])
        return f"sentinel: pure Python ({changed} changed since it was compiled: `make` again)"
    return "sentinel: pure Python (not compiled: no C compiler when it was installed)"


def tune_gc() -> None:
    """The collector's pace for a process that holds much long-lived state (run, replay)."""
    gc.set_threshold(*GC_THRESHOLDS)
