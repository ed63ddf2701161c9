"""`ml4f serve`: the compiler in a local web page (see server.py)."""
from .server import MAX_INPUT_BYTES, MAX_MODEL_BYTES, make_server, serve

__all__ = ["MAX_INPUT_BYTES", "MAX_MODEL_BYTES", "make_server", "serve"]
