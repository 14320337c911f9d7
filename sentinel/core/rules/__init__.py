"""Expectations: the model, their YAML files and the checks on them."""
