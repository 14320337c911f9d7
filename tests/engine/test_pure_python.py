"""The hot path runs compiled where it was built, and pure Python when asked or when a source
changed since (docs/design.md, "Speed"): both run the same code, and `make test` runs the
property tests on both."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sentinel import speed

PACKAGE = Path(speed.__file__).parent
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
SHOW = (
    "import sentinel.core.pipeline.replay, sentinel.core.events.schemas;"
    "import sentinel.core.engine.engine as engine;"
    "from sentinel.speed import compiled_modules; print(compiled_modules(), engine.__file__)"
)


def loaded(pure: bool) -> str:
    env = {key: value for key, value in os.environ.items() if key != speed.PURE_VARIABLE}
    if pure:
        env[speed.PURE_VARIABLE] = "1"
    result = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_sentinel_pure_runs_every_module_from_its_source() -> None:
    assert loaded(pure=True) == f"[] {PACKAGE / 'core' / 'engine' / 'engine.py'}"


def c_compiler() -> str | None:
    """The compiler setup.py looks for: $CC, Python's own, cc or gcc."""
    named = os.environ.get("CC", "").split() or str(sysconfig.get_config_var("CC") or "").split()
    return next((name for name in [*named[:1], "cc", "gcc"] if shutil.which(name)), None)


@pytest.mark.skipif(c_compiler() is None, reason="no C compiler here: nothing was compiled")
def test_the_compiled_modules_run_where_they_were_built() -> None:
    """Where a C compiler is, the install compiles the hot path: a build that fell back to
    pure Python (mypyc refused the sources, and pip's --quiet hid why) fails here."""
    assert list(PACKAGE.rglob(f"*{SUFFIX}")), (
        f"{c_compiler()} is here, yet nothing was compiled: `pip install -e . -v` shows why"
    )
    assert "'sentinel.core.engine.engine'" in loaded(pure=False)


def compiled_package(root: Path) -> Path:
    """A package whose engine.py changed after it was compiled, and records.py did not."""
    package = root / "sentinel"
    package.mkdir(parents=True)
    for name in ("engine", "records"):
        (package / f"{name}.py").write_text("")
        (package / f"{name}{SUFFIX}").write_bytes(b"")
    os.utime(package / "engine.py", ns=(0, 2_000_000_000))
    os.utime(package / f"engine{SUFFIX}", ns=(0, 1_000_000_000))
    os.utime(package / "records.py", ns=(0, 1_000_000_000))
    os.utime(package / f"records{SUFFIX}", ns=(0, 2_000_000_000))
    return package


def test_a_source_changed_after_it_was_compiled_in_a_checkout_is_stale(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    package = compiled_package(tmp_path)
    assert speed.stale_sources(str(package)) == [str(package / "engine.py")]


def test_an_installed_package_is_never_stale_whatever_its_files_times(tmp_path: Path) -> None:
    # pip writes a wheel's files in any order: a source may be newer than its module.
    package = compiled_package(tmp_path / "site-packages")
    assert speed.stale_sources(str(package)) == []


def test_the_source_finder_leaves_other_packages_alone() -> None:
    finder = speed.SourceOnly()
    assert finder.find_spec("json.decoder", None) is None
    spec = finder.find_spec("sentinel.core.engine.engine", [str(PACKAGE / "core" / "engine")])
    assert spec is not None
    assert spec.origin == str(PACKAGE / "core" / "engine" / "engine.py")
