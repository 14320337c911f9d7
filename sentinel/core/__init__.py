"""The pure core: events, rules, the engine and the pipeline; no I/O of its own."""
