"""Export to other runtimes: ONNX graphs of the audio and text towers (+ int8), and an onnxruntime reader.

Importing this package imports neither torch, onnx nor onnxruntime; ``export_onnx`` and ``OnnxClap`` do,
on first use.
"""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "export_onnx": "openclap.export.onnx",
    "OnnxClap": "openclap.export.runtime",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)  # names imported on first use (torch, onnx)
__all__ = sorted(_EXPORTS)
