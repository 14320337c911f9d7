"""`make bench`: every benchmark in one run, so that ratios compare like with like."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import (
    alert_bench,
    board_bench,
    kafka_bench,
    learn_bench,
    metrics_bench,
    replay_bench,
    scaling_bench,
    store_bench,
    takeover_bench,
    throughput_bench,
    tracing_bench,
)
from sentinel import speed


def main() -> int:
    speed.tune_gc()  # as `sentinel run` and `sentinel replay` do
    import sentinel.core.pipeline.pipeline  # noqa: F401, PLC0415 - loaded now, to say how it runs

    compiled = speed.compiled_modules()
    print(f"compiled modules: {len(compiled)} ({', '.join(compiled) or 'none: pure Python'})")
    directory = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    print("\n== replay (issues 2, 10): envelope + schemas + engine on one core")
    replay_bench.main()
    if compiled:
        print("the same, pure Python (SENTINEL_PURE=1):", flush=True)
        pure = {**os.environ, speed.PURE_VARIABLE: "1"}
        subprocess.run([sys.executable, "-m", "bench.replay_bench"], env=pure, check=True)
    print("\n== the live metrics on the hot path (contract section 13: exemplars)")
    metrics_bench.main()
    print("\n== exporting spans (contract section 13): the span outbox on the hot path")
    tracing_bench.main()
    print("\n== open rollouts (issue 10): cost as work grows")
    scaling_bench.main(directory)
    print("\n== live watcher on the embedded broker (issues 3, 10, 11)")
    kafka_bench.main(directory)
    print("\n== state store (issue 5)")
    store_bench.main()
    print("\n== sentinel learn (issue 13): 1,000,000 events of 100,000 rollouts")
    learn_bench.main()
    print("\n== alert latency behind noise (issue 22): Slack at one message per second per channel")
    alert_bench.main()
    print("\n== the board and the rollout API under 200,000 open rollouts (issue 22)")
    board_bench.main()
    print("\n== throughput with durable state (issue 21): ratios to a bare consumer, one run")
    throughput_bench.main(directory / "throughput")  # files of its own
    print("\n== partitions unwatched after a SIGKILL (issue 17)")
    takeover_bench.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
