"""``backviz live``: a local page where the figure follows what you type.

The server is the standard library's :class:`~http.server.ThreadingHTTPServer`: the
page needs two routes (the page itself, and ``POST /api/draw``), and every rule that
makes it safe to run (the token, the Host check, the body limit) is a few lines that
read in order in :meth:`_Handler._allowed` and :meth:`_Handler._body`, with no
framework between them and the request.

What keeps it safe, since it is a server:

- it listens on 127.0.0.1 only (there is no option for another address);
- every request carries the random token of the URL printed at start (in the query,
  ``?token=``, or the ``X-Backviz-Token`` header that the page's script sends), as
  Jupyter's does; without it the answer is 403;
- a request whose Host header is not 127.0.0.1 or localhost (with this port) is
  refused (DNS rebinding), and so is a POST from another origin;
- a body is at most :data:`MAX_BODY` bytes, an expression at most
  :data:`MAX_EXPRESSION` characters, the values at most :data:`MAX_ELEMENTS` numbers;
- the text is only ever parsed by backviz's whitelist parser, values only by
  ``float`` and ``json.loads``: nothing else is run, and no file is read or served;
- Graphviz gets :data:`DRAW_SECONDS` to draw and is then stopped; graphs of more than
  :data:`LARGE` gates are drawn one at a time, so a 3,000-gate edit never holds up the
  small figures others are editing.

The page (``static/live.html``, ``live.css``, ``live.js``) is one response with its
style and script inlined, so it works offline and its Content-Security-Policy allows
only its own script.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import socketserver
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .errors import BackvizError, InvalidValueError, PositionedError, RenderTimeoutError
from .graph import Graph
from .page import KEYS
from .parse import parse
from .render import described
from .render.backend import MAX_GATES, render
from .render.dot import to_dot
from .render.numbers import Numbers
from .render.style import MAX_PRECISION, MIN_PRECISION, Style, is_precision
from .render.style import THEMES as COLOURS
from .teach import MAX_STEPS, Frame, laid_out
from .template import Template
from .tracing import Trace, trace
from .values import from_field

__all__ = [
    "DRAW_SECONDS",
    "LARGE",
    "MAX_BODY",
    "MAX_ELEMENTS",
    "MAX_EXPRESSION",
    "THEMES",
    "LiveServer",
    "Start",
    "draw",
]

MAX_BODY = 1_000_000
"""The largest request body accepted (bytes)."""
MAX_EXPRESSION = 20_000
"""The longest expression or program drawn live (characters): about 3,000 gates."""
MAX_ELEMENTS = 10_000
"""The most numbers the values may hold together (a 100x100 matrix)."""
DRAW_SECONDS = 5.0
"""How long Graphviz may take to draw one figure before it is stopped."""
LARGE = 200
"""Graphs with more gates than this are drawn one at a time."""
THEMES = tuple(COLOURS)
"""The themes the page offers: slides (the lecture's colours, the default), colorblind, dark."""
DEFAULT_VALUE = "1"
"""The value a variable starts with when none is given (a new name typed in the box)."""
TOKEN_HEADER = "X-Backviz-Token"

_STATIC = files(__package__) / "static"
_HOST = re.compile(r"(127\.0\.0\.1|localhost)(:(\d+))?", re.IGNORECASE)


@dataclass(frozen=True)
class Start:
    """What the page opens with: the expression, its values as texts, precision, theme."""

    expression: str
    values: dict[str, str] = field(default_factory=dict)
    precision: int | None = None
    theme: str = "slides"


@dataclass(frozen=True)
class Answer:
    """A drawing's answer: the HTTP status and the JSON body."""

    status: HTTPStatus
    body: dict[str, Any]


def draw(request: Any, *, seconds: float = DRAW_SECONDS, large: threading.Lock | None = None,
         builds: _Builds | None = None) -> Answer:
    """Answer one ``POST /api/draw``: the figure (or one frame of its build) and its summary.

    ``request`` is the decoded JSON body::

        {"expression": "(x+y)*z", "values": {"x": "-2"}, "precision": null,
         "theme": "slides", "step": null, "format": "svg"}

    Only ``expression`` is required. A value is the text of a field (a number or a JSON
    list); a variable without one starts at 1. ``step`` asks for frame k of the
    ``--steps`` build instead of the complete figure; ``format`` ``png`` adds the PNG,
    base64-encoded.
    """
    started = time.perf_counter()
    try:
        ask = _Request.read(request)
    except _Refused as err:
        return Answer(err.status, {"error": str(err)})
    try:
        graph = parse(ask.expression)
    except BackvizError as err:
        return _bad_input(err)
    texts = {name: ask.values.get(name, DEFAULT_VALUE) for name in graph.variables}
    variables = [{"name": name, "value": text} for name, text in texts.items()]
    try:
        t = _trace(graph, texts)
        drawing = _draw(ask, t, seconds, large, builds or _Builds())
    except _Refused as err:
        return Answer(err.status, {"error": str(err), "variables": variables})
    except BackvizError as err:
        return _bad_input(err, variables)
    ms = round((time.perf_counter() - started) * 1000, 1)
    if ask.format == "png":
        return Answer(HTTPStatus.OK, {"png": base64.b64encode(drawing.figure).decode("ascii"),
                                      "ms": ms})
    return Answer(HTTPStatus.OK, {
        "svg": drawing.figure.decode("utf-8"),
        "summary": _summary(t, drawing.style),
        "variables": variables,
        "frames": drawing.frames,
        "step": drawing.step,
        "caption": drawing.caption,
        "ms": ms,
    })


@dataclass(frozen=True)
class _Drawing:
    """What Graphviz drew for a request: the figure, or the frame ``step`` of its build."""

    figure: bytes
    style: Style
    frames: int
    """How many frames the build has (0: too many gates to step through)."""
    step: int | None = None
    caption: str | None = None


def _draw(ask: _Request, t: Trace, seconds: float, large: threading.Lock | None,
          builds: _Builds) -> _Drawing:
    """Draw the figure or the frame asked for; a large graph waits for the lock ``large``."""
    gates = len(t.graph.gates)
    if gates > MAX_GATES:
        raise _Refused(HTTPStatus.UNPROCESSABLE_ENTITY,
                       f"the graph has {gates:,} gates; figures of up to {MAX_GATES:,} gates are "
                       "drawn (the command's --format json has no limit)")
    style = Style(theme=COLOURS[ask.theme])
    if ask.precision is not None:
        style = replace(style, precision=ask.precision, integers=False)
    frames = gates + 2 if gates <= MAX_STEPS else 0
    lock = large if large is not None and gates > LARGE else None
    if lock is not None and not lock.acquire(timeout=seconds):
        raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE,
                       "another large graph is being drawn; try again in a moment")
    try:
        return _drawn(ask, t, style, frames, seconds, builds)
    except RenderTimeoutError:
        raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE,
                       f"drawing this graph of {gates:,} gates took more than {seconds:g} s, and "
                       "was stopped; the command allows longer (BACKVIZ_DOT_TIMEOUT, 120 s by "
                       "default)") from None
    finally:
        if lock is not None:
            lock.release()


def _drawn(ask: _Request, t: Trace, style: Style, frames: int, seconds: float,
           builds: _Builds) -> _Drawing:
    """The frame ``ask.step`` of the build (its SVG drawn from the build's one layout), or
    the figure."""
    gates = len(t.graph.gates)
    if ask.step is not None and frames:
        step = min(ask.step, frames - 1)
        frame, svg = builds.frame(ask, t, style, step)
        if ask.format == "svg":  # the build's own frame
            return _Drawing(svg.encode("utf-8"), frame.style, frames, step, frame.caption)
        figure = render(to_dot(t, frame.style, "png"), "png", gates, timeout=seconds)
        return _Drawing(figure, frame.style, frames, step, frame.caption)
    figure = render(to_dot(t, style, ask.format), ask.format, gates, timeout=seconds)
    if ask.format == "svg":  # the command's figure, <desc> included
        figure = described(figure.decode("utf-8"), t, style).encode("utf-8")
    return _Drawing(figure, style, frames)


class _Refused(Exception):
    """A request refused before anything is drawn, with its status."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Request:
    """A checked ``/api/draw`` request."""

    expression: str
    values: dict[str, str]
    precision: int | None
    theme: str
    step: int | None
    format: str

    @classmethod
    def read(cls, data: Any) -> _Request:
        if not isinstance(data, dict):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the request must be a JSON object")
        return cls(_expression(data), _texts(data), _precision(data), _theme(data), _step(data),
                   _format(data))

    @property
    def key(self) -> str:
        """What a build depends on (not the step, not the format)."""
        return json.dumps([self.expression, sorted(self.values.items()), self.precision,
                           self.theme])


def _expression(data: dict[str, Any]) -> str:
    expression = data.get("expression")
    if not isinstance(expression, str):
        raise _Refused(HTTPStatus.BAD_REQUEST, "'expression' must be a string")
    if len(expression) > MAX_EXPRESSION:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       f"the expression has {len(expression):,} characters; the live page "
                       f"draws up to {MAX_EXPRESSION:,} (the command has no such limit)")
    return expression


def _texts(data: dict[str, Any]) -> dict[str, str]:
    values = data.get("values", {})
    if not isinstance(values, dict) or not all(
            isinstance(v, str) and isinstance(k, str) for k, v in values.items()):
        raise _Refused(HTTPStatus.BAD_REQUEST,
                       "'values' must map names to texts, e.g. {\"x\": \"-2\"}")
    return values


def _precision(data: dict[str, Any]) -> int | None:
    precision = data.get("precision")
    if precision is not None and not is_precision(precision):
        raise _Refused(HTTPStatus.BAD_REQUEST, "'precision' must be null or a whole number "
                       f"from {MIN_PRECISION} to {MAX_PRECISION}")
    return precision


def _theme(data: dict[str, Any]) -> str:
    theme = data.get("theme", THEMES[0])
    if theme not in THEMES:
        raise _Refused(HTTPStatus.BAD_REQUEST, f"'theme' must be one of {', '.join(THEMES)}")
    return str(theme)


def _step(data: dict[str, Any]) -> int | None:
    step = data.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise _Refused(HTTPStatus.BAD_REQUEST, "'step' must be null or a frame number from 0")
    return step


def _format(data: dict[str, Any]) -> str:
    fmt = data.get("format", "svg")
    if fmt not in ("svg", "png"):
        raise _Refused(HTTPStatus.BAD_REQUEST, "'format' must be svg or png")
    return str(fmt)


def _trace(graph: Graph, texts: dict[str, str]) -> Trace:
    values = {name: from_field(name, text) for name, text in texts.items()}
    elements = 0
    for name, value in values.items():
        try:
            elements += int(np.size(np.asarray(value, dtype=np.float64)))
        except (ValueError, TypeError):
            raise InvalidValueError(f"the value of {name} is not a number or a list of numbers "
                                    "with rows of one length") from None
    if elements > MAX_ELEMENTS:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       f"the values hold {elements:,} numbers; the live page takes up to "
                       f"{MAX_ELEMENTS:,}")
    try:
        return trace(graph, values)
    except MemoryError:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       "the values are too large to evaluate") from None


def _bad_input(err: BackvizError, variables: list[dict[str, str]] | None = None) -> Answer:
    """A 422 with the message; a positioned error also gives its column (0-based)."""
    body: dict[str, Any] = {"error": str(err)}
    if isinstance(err, PositionedError):
        body["column"] = err.column
    if variables is not None:
        body["variables"] = variables
    return Answer(HTTPStatus.UNPROCESSABLE_ENTITY, body)


def _summary(t: Trace, style: Style) -> dict[str, Any]:
    """The command's summary: the output, each input's gradient, the warnings."""
    numbers = Numbers(t, style)
    return {
        "value": numbers.plain(t.values[-1]),
        "gradients": [[name, numbers.plain(g)] for name, g in t.gradients.items()],
        "warnings": list(t.warnings),
    }


class _Builds:
    """The last few builds, so that stepping runs Graphviz once per build: each frame's
    SVG is drawn from the build's one layout when it is asked for."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._frames: OrderedDict[str, tuple[list[Frame], Template]] = OrderedDict()

    def frame(self, ask: _Request, t: Trace, style: Style, step: int) -> tuple[Frame, str]:
        """The build's frame ``step`` and its SVG."""
        with self._lock:
            known = self._frames.get(ask.key)
            if known is not None:
                self._frames.move_to_end(ask.key)
        if known is None:
            known = laid_out(t, style)
            with self._lock:
                self._frames[ask.key] = known
                while len(self._frames) > self._size:
                    self._frames.popitem(last=False)
        made, template = known
        return made[step], template.svg(made[step].style).decode("utf-8")


class LiveServer(ThreadingHTTPServer):
    """The live page's server, on 127.0.0.1 at ``port`` (0: any free port)."""

    daemon_threads = True

    def __init__(self, start: Start, port: int = 0, seconds: float = DRAW_SECONDS) -> None:
        self.start = start
        self.seconds = seconds
        self.token = secrets.token_urlsafe(32)
        self.large = threading.Lock()
        self.builds = _Builds()
        self.page = _page_parts()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: what is left to fail here is a connection the browser closed (a reload,
        a closed tab); socketserver would print its traceback."""

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's name (socket.getfqdn), which can
        # wait on DNS; the name is known.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    @property
    def url(self) -> str:
        """The page's address, with the token."""
        return f"http://127.0.0.1:{self.server_port}/?token={self.token}"

    def allows(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.token.encode())


def _page_parts() -> tuple[str, str, str]:
    return tuple(  # type: ignore[return-value]
        (_STATIC / name).read_text(encoding="utf-8") for name in ("live.html", "live.css", "live.js"))


def _script_json(data: Any) -> str:
    """JSON to put inside <script>: "<" escaped, so no text can close the element."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


class _Handler(BaseHTTPRequestHandler):
    server: LiveServer
    protocol_version = "HTTP/1.1"
    timeout = 15  # seconds a client may stall mid-request before its connection is closed
    # The headers and the body go out in two writes: with Nagle's algorithm the second
    # waits for the browser's delayed ACK, 40 ms on Linux, a third of the time budget.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "backviz-live"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the command prints only the URL (and errors)."""

    def do_GET(self) -> None:
        if not self._allowed():
            return
        if urlsplit(self.path).path != "/":
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such page"})
            return
        nonce = secrets.token_urlsafe(16)
        html, css, script = self.server.page
        config = {"start": {"expression": self.server.start.expression,
                            "values": self.server.start.values,
                            "precision": self.server.start.precision,
                            "theme": self.server.start.theme},
                  "themes": {name: {"background": theme.background,
                                    "highlight": theme.highlight_fill}
                             for name, theme in COLOURS.items()},
                  "keys": KEYS}
        page = (html.replace("{{nonce}}", nonce).replace("{{css}}", css)
                .replace("{{config}}", _script_json(config)).replace("{{script}}", script))
        self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8", {
            "Content-Security-Policy": (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
                "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'"),
            "Referrer-Policy": "no-referrer"})

    def do_POST(self) -> None:
        if not self._allowed():
            return
        if urlsplit(self.path).path != "/api/draw":
            self.close_connection = True  # its body is not read
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such page"})
            return
        body = self._body()
        if body is None:
            return
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
            return
        try:
            answer = draw(request, seconds=self.server.seconds, large=self.server.large,
                          builds=self.server.builds)
        except Exception as err:  # a bug: say so on the page, and keep serving the others
            answer = Answer(HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": f"backviz failed on this input ({type(err).__name__}: {err}); "
                         "please report it"})
        self._json(answer.status, answer.body)

    def _allowed(self) -> bool:
        """The Host, the origin and the token; refuses (403) and returns False if wrong."""
        host = _HOST.fullmatch(self.headers.get("Host", ""))
        if host is None or (host[3] is not None and int(host[3]) != self.server.server_port):
            return self._refuse("the Host header must be 127.0.0.1 or localhost, with this "
                                "server's port")
        origin = self.headers.get("Origin")
        port = self.server.server_port
        if origin is not None and origin not in (f"http://127.0.0.1:{port}",
                                                 f"http://localhost:{port}"):
            return self._refuse("requests from other pages are refused")
        token = parse_qs(urlsplit(self.path).query).get("token", [None])[0]
        if not self.server.allows(self.headers.get(TOKEN_HEADER) or token):
            return self._refuse("the token is missing or wrong: open the URL that backviz live "
                                "printed")
        return True

    def _refuse(self, message: str) -> bool:
        self.close_connection = True  # a refused request's body is never read
        self._json(HTTPStatus.FORBIDDEN, {"error": message})
        return False

    def _body(self) -> bytes | None:
        """The request's body, if its length is given and at most MAX_BODY."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "a body needs its Content-Length"})
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       {"error": f"a request body is at most {MAX_BODY:,} bytes"})
            return None
        return self.rfile.read(int(length))

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, data: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def serve(start: Start, port: int = 0, ready: Callable[[LiveServer], None] | None = None,
          seconds: float = DRAW_SECONDS) -> None:
    """Serve the page until interrupted (KeyboardInterrupt propagates, the socket closed).

    ``ready`` is called with the server once it listens (the command prints the URL).
    """
    with LiveServer(start, port, seconds) as server:
        if ready is not None:
            ready(server)
        server.serve_forever()
