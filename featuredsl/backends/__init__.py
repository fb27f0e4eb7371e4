"""Backends: one dispatch table from primitive IR op to a small emitter each."""
