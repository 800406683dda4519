"""sdk: compile ONNX models to self-contained C bundles."""
