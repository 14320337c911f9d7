"""The application: the live watcher, its wiring, metrics and HTTP face."""
