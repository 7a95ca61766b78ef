"""ONNX exports: converting a trained Keras model (``convert``), validating and writing it with its metadata and
test vectors (``export``, ``compare``, ``metadata``), its raw-samples-in twin (``end_to_end``), recording it (``manifest``), running it with onnxruntime
alone (``runtime``, ``predict``), and its device-sized copies (``mobile``, ``quantize``, ``device_copies``)."""
