"""``openclap serve``: an HTTP API and a web page over a CLAP model and an optional sound index.

The library never imports this package; it needs the ``serve`` extra (FastAPI, uvicorn, python-multipart).
"""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "create_app": "openclap.serve.app",
    "ServeLimits": "openclap.serve.limits",
    "make_server": "openclap.serve.server",
    "serve_in_thread": "openclap.serve.server",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)  # names imported on first use (FastAPI, torch)
__all__ = sorted(_EXPORTS)
