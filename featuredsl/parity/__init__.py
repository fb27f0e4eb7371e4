"""Parity: proving that the numpy module and the ONNX graph compute the same features."""
