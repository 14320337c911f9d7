"""rollout-sentinel: one place that knows where every choreographed rollout stands."""

from sentinel import speed

__version__ = "0.1.0"

if speed.pure_requested():  # before any compiled module can load: docs/design.md, "Speed"
    speed.run_pure()
