"""The engine: rollouts, deadlines and the findings they give."""
