"""State stores: where the engine's state, the emitted findings and the offsets survive restarts."""
