"""rollout-sentinel: one place that knows where every choreographed rollout stands."""

__version__ = "0.1.0"
