"""rollout-sentinel: one place that knows where every choreographed rollout stands."""

import os

from sentinel import speed

__version__ = "0.1.0"

# Before any compiled module can load (docs/design.md, "Speed").
if speed.pure_requested() or speed.stale_sources(os.path.dirname(__file__)):
    speed.run_pure()
