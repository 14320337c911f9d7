"""The batch pipeline with a SQLite store over a fixed log, to be counted in instructions.

On a shared 2-core machine `sentinel run`'s rate moves by 15% between two runs of the same
code, more than most single changes to its hot path are worth. The instructions it executes
do not move: count them with valgrind (Debian's `valgrind`; not in `make bench`, which does
not need it), for the same log before and after a change:

    valgrind --tool=callgrind --toggle-collect='CPyDef_pipeline___Pipeline___process' \\
        .venv/bin/python -m bench.pipeline_instructions

`Collected` is what `Pipeline.process` executed, the store's transaction included (decoding,
schemas, engine, rows, history, SQLite); `callgrind_annotate --inclusive=yes` says where. The
name is that of the compiled module; run pure (`SENTINEL_PURE=1`), collect everything instead.
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

from bench.replay_bench import ROOT, generate_log
from bench.store_bench import throughput
from sentinel.core.engine.engine import Engine
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.loader import load_expectations
from sentinel.speed import tune_gc
from sentinel.store.sqlite import SqliteStore

ROLLOUTS = 2_000  # 20,000 events: about a minute under callgrind


def main(rollouts: int = ROLLOUTS) -> None:
    tune_gc()  # as `sentinel run` does
    log = generate_log(rollouts=rollouts)
    engine = Engine(load_expectations([ROOT]).expectations, SchemaRegistry.load(ROOT / "schemas"))
    with tempfile.TemporaryDirectory() as directory:
        rate, share = throughput(log, engine, partial(SqliteStore, Path(directory) / "s.db"))
    print(f"{len(log):,} events: {rate:,.0f} events/s, the store's calls {share:.0%} of it")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROLLOUTS)
