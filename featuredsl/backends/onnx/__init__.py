"""The ONNX backend: emits the primitive IR as one ONNX graph for serving."""
