"""The HTTP face: probes, metrics, the status board and the rollout API."""
