"""Export to other runtimes: ONNX graphs of the audio and text towers (+ int8), and an onnxruntime reader.

Importing this package does not import onnx or onnxruntime; ``export_onnx`` and ``OnnxClap`` do.
"""

from openclap.export.onnx import export_onnx
from openclap.export.runtime import OnnxClap

__all__ = ["OnnxClap", "export_onnx"]
