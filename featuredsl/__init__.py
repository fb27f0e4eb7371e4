"""featuredsl: declare features once, compute the same values in training (numpy) and serving (ONNX)."""

from __future__ import annotations

__version__ = "0.1.0"
