"""``openclap serve``: an HTTP API and a web page over a CLAP model and an optional sound index.

The library never imports this package; it needs the ``serve`` extra (FastAPI, uvicorn, python-multipart).
"""

from openclap.serve.app import create_app
from openclap.serve.limits import ServeLimits
from openclap.serve.server import make_server, serve_in_thread

__all__ = ["ServeLimits", "create_app", "make_server", "serve_in_thread"]
