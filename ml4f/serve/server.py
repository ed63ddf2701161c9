"""`ml4f serve`: the compiler behind a page on 127.0.0.1.

The standard library's ThreadingHTTPServer: the page needs four routes and no
cookies, so a web framework would add an install step and nothing else.  It
listens on the loopback address only and answers only requests whose Host is
that address (so no other web page can reach it through DNS rebinding).

    GET  /                         the page (page.html, package data)
    POST /compile?file=NAME.h5&... the model file as the body -> JSON (report, links)
    POST /run/ID                   a .npy input as the body (none: the embedded
                                   test vector) -> JSON (outputs, class, cycles)
    GET  /result/ID/NAME.ext       NAME.bin, .h, .S, .json, .html of one compile

Uploads over MAX_MODEL_BYTES / MAX_INPUT_BYTES are refused with 413 before
they are read; a model the compiler refuses gives 400 with its one line.
"""
from __future__ import annotations

import json
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ML4FError, UsageError
from .workspace import Workspace

MAX_MODEL_BYTES = 64 << 20        # a model file, uploaded to /compile
MAX_INPUT_BYTES = 16 << 20        # an input .npy, uploaded to /run
HOST = "127.0.0.1"
CONTENT_TYPES = {".bin": "application/octet-stream", ".h": "text/plain; charset=utf-8",
                 ".S": "text/plain; charset=utf-8", ".json": "application/json",
                 ".html": "text/html; charset=utf-8"}


class HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def page() -> bytes:
    text = (resources.files("ml4f") / "serve" / "page.html").read_text(encoding="utf-8")
    return (text.replace("__MAX_MODEL_BYTES__", str(MAX_MODEL_BYTES))
            .replace("__MAX_INPUT_BYTES__", str(MAX_INPUT_BYTES)).encode())


def _flag(query: dict, key: str) -> bool:
    return query.get(key, ["0"])[0].lower() in ("1", "true", "yes", "on")


def _number(query: dict, key: str, default: float) -> float:
    raw = query.get(key, [""])[0].strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HTTPError(HTTPStatus.BAD_REQUEST, f"{key} must be a number, not {raw!r}") from None
    if not value >= 0:
        raise HTTPError(HTTPStatus.BAD_REQUEST, f"{key} must not be negative")
    return value


def compile_options(query: dict) -> dict:
    optimize = query.get("optimize", ["balanced"])[0]
    if optimize not in ("size", "balanced", "speed"):
        raise HTTPError(HTTPStatus.BAD_REQUEST, f"optimize must be size, balanced or speed, "
                                                f"not {optimize!r}")
    mhz = _number(query, "mhz", 64.0)
    if mhz <= 0:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "mhz must be positive")
    return {"float16": _flag(query, "float16"), "test_data": _flag(query, "test_data"),
            "optimize": optimize, "mhz": mhz, "validate": True}


def fits(report: dict, ram: float, flash: float) -> list[str]:
    """Budget problems of the board, as `pio run` would report them."""
    problems = []
    arena, size = report["arena"]["arena_bytes"], report["totals"]["file_bytes"]
    if ram and arena > ram:
        problems.append(f"the arena ({arena:,} B) does not fit the board's RAM ({int(ram):,} B)")
    if flash and size > flash:
        problems.append(f"the object ({size:,} B) does not fit the board's flash "
                        f"({int(flash):,} B)")
    return problems


class Handler(BaseHTTPRequestHandler):
    server_version = "ml4f-serve"
    protocol_version = "HTTP/1.1"
    workspace: Workspace          # set by make_server
    quiet = True

    # ---------------------------------------------------------------- replies
    def log_message(self, format, *args):       # noqa: A002 (the base class's name)
        if not self.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict):
        self._send(status, json.dumps(data).encode(), "application/json")

    def _body(self, limit: int) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise HTTPError(HTTPStatus.LENGTH_REQUIRED, "the upload needs a Content-Length")
        if length > limit:
            self.close_connection = True          # the body stays unread
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"upload too large ({length:,} bytes; at most {limit:,})")
        return self.rfile.read(length) if length > 0 else b""

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if host not in (HOST, "localhost"):
            raise HTTPError(HTTPStatus.FORBIDDEN, "ml4f serve answers requests for "
                                                  f"{HOST} only")

    def _handle(self, route) -> None:
        try:
            self._check_host()
            route()
        except HTTPError as e:
            self._json(e.status, {"error": str(e)})
        except ML4FError as e:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        except Exception as e:                     # a bug: still one line, never a traceback page
            from ..context import internal_error_line
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": internal_error_line(e)})

    # ----------------------------------------------------------------- routes
    def do_GET(self):
        self._handle(self._get)

    def do_HEAD(self):
        self._handle(self._get)

    def do_POST(self):
        self._handle(self._post)

    def _get(self):
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, page(), "text/html; charset=utf-8")
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "result":
            result = self.workspace.get(parts[2])
            filename = unquote(parts[3])
            if result is None or filename not in result.files:
                raise HTTPError(HTTPStatus.NOT_FOUND, "no such result (compile again)")
            suffix = filename[filename.rfind("."):]
            disposition = "inline" if suffix == ".html" else f'attachment; filename="{filename}"'
            return self._send(HTTPStatus.OK, result.files[filename], CONTENT_TYPES[suffix],
                              {"Content-Disposition": disposition})
        raise HTTPError(HTTPStatus.NOT_FOUND, f"no page {path}")

    def _post(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = url.path.split("/")
        if url.path == "/compile":
            options = compile_options(query)
            budget = (_number(query, "ram", 0), _number(query, "flash", 0))
            filename = query.get("file", [""])[0]
            data = self._body(MAX_MODEL_BYTES)
            if not data:
                raise HTTPError(HTTPStatus.BAD_REQUEST, "no model file in the upload")
            result = self.workspace.compile(filename, data, options)
            return self._json(HTTPStatus.OK, {
                "id": result.id, "name": result.name, "report": result.report,
                "files": {f: f"/result/{result.id}/{f}" for f in result.files},
                "problems": fits(result.report, *budget)})
        if len(parts) == 3 and parts[1] == "run":
            result = self.workspace.get(parts[2])
            if result is None:
                raise HTTPError(HTTPStatus.NOT_FOUND, "no such result (compile again)")
            data = self._body(MAX_INPUT_BYTES)
            if not data and not result.report["options"]["test_data"]:
                raise UsageError("this object has no embedded test vector: upload an input "
                                 ".npy, or compile with a test vector")
            mhz = result.report["totals"]["mhz"]
            return self._json(HTTPStatus.OK, self.workspace.run(result, data or None, mhz))
        raise HTTPError(HTTPStatus.NOT_FOUND, f"no route {url.path}")


def make_server(port: int = 8000, quiet: bool = True) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"workspace": Workspace(), "quiet": quiet})
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, not {port}")
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as e:
        raise UsageError(f"cannot listen on {HOST}:{port}: {e.strerror or e}") from None
    server.daemon_threads = True
    return server


def serve(port: int = 8000) -> int:
    server = make_server(port, quiet=False)
    print(f"ml4f serve: http://{HOST}:{server.server_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("ml4f serve: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
