"""The live loop: the watcher, its wiring, its metrics and reloads."""
