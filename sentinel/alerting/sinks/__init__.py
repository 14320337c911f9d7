"""The sinks: one module per kind of sink, each with its settings, plan and transport."""
