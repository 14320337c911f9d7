"""`sentinel learn` on the command line: where the files go, what they pass, and the usage
mistakes that end as one message and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.commands.main import main
from sentinel.core.rules.loader import load_expectations

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LOG = ROOT / "expectations" / "examples" / "rollouts.jsonl"


def test_the_learned_stream_on_standard_output_passes_sentinel_check(tmp_path: Path) -> None:
    learned = subprocess.run(
        [sys.executable, "-m", "sentinel", "learn", "-"],
        input=EXAMPLE_LOG.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert learned.returncode == 0, learned.stderr
    (tmp_path / "learned.yaml").write_bytes(learned.stdout)

    checked = subprocess.run(
        [sys.executable, "-m", "sentinel", "check", str(tmp_path / "learned.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "ok: 2 expectation(s) in 1 file(s)" in checked.stderr
    summary = learned.stderr.decode()
    assert "correlation: data.rollout_id, subject" in summary
    assert "r-1004" in summary  # the order it broke held in too few rollouts to be an edge


def test_output_writes_one_checked_file_per_expectation_with_the_owner_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["learn", "--output", str(tmp_path / "out"), str(EXAMPLE_LOG)]) == 0

    files = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert files == ["feature-flags-staged.yaml", "schema-v2-ready.yaml"]
    loaded = load_expectations([tmp_path / "out"])
    assert {exp.owner for exp in loaded.expectations} == {"REPLACE-ME"}
    assert capsys.readouterr().out == ""


def test_output_replaces_its_own_files_but_never_a_hand_written_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["learn", "--output", str(out), str(EXAMPLE_LOG)]) == 0
    assert main(["learn", "--output", str(out), str(EXAMPLE_LOG)]) == 0
    mine = out / "schema-v2-ready.yaml"
    mine.write_text("# ours, by hand\n")

    assert main(["learn", "--output", str(out), str(EXAMPLE_LOG)]) == 2

    assert mine.read_text() == "# ours, by hand\n"
    assert "was not written by sentinel learn" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give an event log (FILE, or - for standard input), or --config FILE"),
        (["--since", "7d", "log"], "--since reads Kafka: give --config FILE as well"),
        (["--config", "run.yaml"], "add e.g. --since 7d"),
        (["--config", "run.yaml", "log"], "give an event log or --config, not both"),
        (["--min-support", "0.5", "log"], "give a share above 0.5 and at most 1"),
        (["--correlate", "data..id", "log"], "give a dotted path, e.g. data.rollout_id"),
        (["no-such-file.jsonl"], "cannot read no-such-file.jsonl"),
    ],
)
def test_a_usage_mistake_is_one_message_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["learn", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_bad_since_says_what_a_duration_looks_like(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["learn", "--config", str(tmp_path / "run.yaml"), "--since", "a week"]) == 2
    assert "write e.g. 90s, 10m, 1h30m, 2d" in capsys.readouterr().err
