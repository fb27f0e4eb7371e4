"""The compiler core: types, the frozen IR, the op registry, lowering and the checker.

No numpy or onnx imports here: everything below `language` and above the backends."""
