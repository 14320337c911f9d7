"""`make bench`: every benchmark in one run, so that ratios compare like with like."""

from __future__ import annotations

import sys

from bench import kafka_bench, learn_bench, replay_bench, store_bench


def main() -> int:
    print("== replay (issue 2): envelope + schemas + engine on one core")
    replay_bench.main()
    print("\n== live watcher on the embedded broker (issue 3)")
    kafka_bench.main()
    print("\n== state store (issue 5)")
    store_bench.main()
    print("\n== sentinel learn (issue 13): 1,000,000 events of 100,000 rollouts")
    learn_bench.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
