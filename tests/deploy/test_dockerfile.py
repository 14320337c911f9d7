"""The Dockerfile, as far as it can be checked without a Docker engine.

Its build stage is replayed here: the files it copies, turned into a wheel with the command it
runs, installed, and the image's entrypoint run from that installation.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from .tools import CHART, REPO, run

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENTRYPOINT = ["sentinel", "run", "--config", "/etc/sentinel/config.yaml"]
WHEEL_COMMAND = "python -m pip wheel --no-deps --wheel-dir /wheels ."

Instruction = tuple[str, str]


def stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions (keyword, arguments), one list per FROM."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(" ".join(pending.split()))
            pending = ""
    found: list[list[Instruction]] = []
    for instruction in logical:
        keyword, _, arguments = instruction.partition(" ")
        if keyword.upper() == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword.upper(), arguments))
    return found


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for key, args in stage if key == keyword]


def copied_sources() -> list[list[str]]:
    """The sources of each COPY of the build context (not --from) in the build stage."""
    return [args.split()[:-1] for args in arguments(stages()[0], "COPY")]


def image_argument(name: str) -> str:
    return DOCKERFILE.read_text().split(f"ARG {name}=", 1)[1].split()[0]


def test_the_image_has_a_build_stage_with_a_compiler_and_a_slim_runtime_stage() -> None:
    build, final = stages()
    assert build[0][1] == "${BUILD_IMAGE} AS build"
    runtime, builder = image_argument("PYTHON_IMAGE"), image_argument("BUILD_IMAGE")
    assert runtime.startswith("python:3.11") and "slim" in runtime
    # The same Python and Debian release, with gcc: compiled modules that load at runtime.
    assert builder == runtime.replace("-slim", "")
    assert [args for args in arguments(final, "FROM")] == ["${PYTHON_IMAGE}"]


def test_the_entrypoint_is_sentinel_run_with_the_config_the_chart_mounts() -> None:
    final = stages()[-1]
    (entrypoint,) = arguments(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ENTRYPOINT
    assert arguments(final, "CMD") == []
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sentinel"] == "sentinel.commands.main:main"


def test_the_image_runs_as_the_numeric_non_root_user_of_the_chart() -> None:
    (user,) = arguments(stages()[-1], "USER")
    uid, gid = (int(part) for part in user.split(":"))
    values = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert uid > 0 and gid > 0
    assert (uid, gid) == (values["runAsUser"], values["runAsGroup"])


def test_the_runtime_stage_copies_only_the_installed_environment_and_builds_nothing() -> None:
    final = stages()[-1]
    assert arguments(final, "COPY") == ["--from=build /opt/sentinel /opt/sentinel"]
    for command in arguments(final, "RUN"):
        for tool in ("pip", "apt-get", "gcc", "wheel", "setuptools"):
            assert tool not in command, command
    assert any("--without-pip" in command for command in arguments(stages()[0], "RUN"))


def test_the_build_stage_installs_the_package_from_its_wheel() -> None:
    (command,) = arguments(stages()[0], "RUN")
    steps = [step.strip() for step in command.split("&&")]
    assert steps[0] == WHEEL_COMMAND
    assert steps[-1].endswith("install /wheels/rollout_sentinel-*.whl")


def test_the_build_context_holds_every_file_the_build_copies() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    patterns = [line for line in patterns if line and not line.startswith("#")]
    assert patterns[0] == "*", "the context is an allow-list"
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    for sources in copied_sources():
        matched = [
            name for source in sources for name in os.listdir(REPO) if fnmatch.fnmatch(name, source)
        ]
        assert matched, f"COPY {sources}: nothing in the repository matches"
        for name in matched:
            assert name in allowed, f"{name} is copied but .dockerignore leaves it out"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the build stage makes, from exactly the files it copies."""
    context = tmp_path_factory.mktemp("context")
    for sources in copied_sources():
        for source in sources:
            for path in REPO.glob(source):
                if path.is_dir():
                    # What .dockerignore leaves out: caches and the checkout's own build.
                    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
                    shutil.copytree(path, context / path.name, ignore=ignored)
                else:
                    shutil.copy2(path, context / path.name)
    wheels = tmp_path_factory.mktemp("wheels")
    command = WHEEL_COMMAND.replace("python", sys.executable, 1).replace("/wheels", str(wheels))
    run(*command.split(), cwd=context)
    (built,) = wheels.glob("rollout_sentinel-*.whl")
    return built


def test_the_wheel_holds_every_module_and_data_file_of_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    package = REPO / "sentinel"
    expected = {
        path.relative_to(REPO).as_posix()
        for pattern in ("**/*.py", "*.json", "py.typed")
        for path in package.glob(pattern)
        if "__pycache__" not in path.parts
    }
    assert expected - names == set()


@pytest.mark.skipif(not shutil.which("gcc"), reason="no C compiler here (the build image has gcc)")
def test_the_wheel_holds_the_compiled_hot_path(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    compiled = {name.split(".")[0] for name in names if name.endswith(".so")}
    hot = {"sentinel/core/engine/engine", "sentinel/core/pipeline/pipeline"}
    assert hot | {"sentinel/core/events/envelope"} <= compiled


def test_the_wheel_declares_the_sentinel_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = (name for name in archive.namelist() if name.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "sentinel = sentinel.commands.main:main" in text


def test_the_installed_entrypoint_runs_the_sentinel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(site),
        str(wheel),
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    # Away from the repository, whose sentinel/ would shadow the installed one.
    where = run(
        sys.executable, "-c", "import sentinel; print(sentinel.__file__)", env=env, cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(site)), "the test ran the source tree, not the wheel"
    if shutil.which("gcc"):
        # pip wrote the files in any order: no source may count as changed since compiled.
        compiled_env = {key: value for key, value in env.items() if key != "SENTINEL_PURE"}
        speed = run(
            sys.executable, "-c", "from sentinel import speed; print(speed.describe())",
            env=compiled_env, cwd=tmp_path,
        )  # fmt: skip
        assert "runs compiled" in speed.stdout, speed.stdout
    missing = tmp_path / "etc" / "sentinel" / "config.yaml"
    command = [str(site / "bin" / ENTRYPOINT[0]), *ENTRYPOINT[1:-1], str(missing)]

    result = run(*command, check=False, env=env, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert f"{missing}: cannot read the config file" in result.stderr
    assert "Traceback" not in result.stderr
