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
- a request's line and headers must all arrive within :data:`HEADER_SECONDS` of the
  connection's opening (or of the previous answer on a kept-alive one), before the token is
  checked, and its body within :data:`BODY_SECONDS`: a slow or silent client is dropped;
- Graphviz gets :data:`DRAW_SECONDS` to draw and is then stopped, a build's layout
  included; graphs of more than :data:`LARGE` gates are drawn one at a time, so a
  3,000-gate edit never holds up the small figures others are editing;
- at most :data:`WORKERS` drawings are made at once, the others wait their turn (first
  come, first served), at most :data:`WAITING` of them and for at most :data:`DRAW_SECONDS`;
  past that the answer is 503 at once, with ``Retry-After``, so that a crowd queues
  rather than thrashes the cores;
- at most :data:`MAX_CONNECTIONS` connections are served at once (a thread each); the next
  one gets a 503 with ``Retry-After`` and is closed, before anything of it is read.

The page (``static/live.html``, ``live.css``, ``live.js``) is one response with its
style and script inlined, so it works offline and its Content-Security-Policy allows
only its own script.
"""

from __future__ import annotations

import base64
import hmac
import io
import json
import os
import re
import resource
import secrets
import socket
import socketserver
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
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
from .signals import deferred, held
from .teach import MAX_STEPS, Frame, laid_out
from .template import Template
from .tracing import Trace, trace
from .values import from_field

__all__ = [
    "BODY_SECONDS",
    "DRAW_SECONDS",
    "HEADER_SECONDS",
    "LARGE",
    "MAX_BODY",
    "MAX_CONNECTIONS",
    "MAX_ELEMENTS",
    "MAX_EXPRESSION",
    "THEMES",
    "WAITING",
    "WORKERS",
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
WORKERS = min(8, max(2, os.cpu_count() or 2))
"""The most drawings made at once: one per core (at least 2, so that a large graph being
drawn leaves room for a small one)."""
WAITING = 32
"""The most drawings that wait for their turn; past it the answer is 503 at once."""
MAX_CONNECTIONS = 1024
"""The most connections served at once (or half the process's limit of open files, if that
is fewer), each by a thread of about 100 KB; a browser opens up to six to one server. The
next is answered 503 and closed. It bounds the threads a flood makes, and is high because a
silent connection holds its place for HEADER_SECONDS: at 128, four local processes
reconnecting as fast as they could kept the page's own requests out."""
HEADER_SECONDS = 2.0
"""How long a request's line and headers may take to arrive, in all (the token is in them)."""
KEEP_ALIVE_SECONDS = 10.0
"""How long a kept-alive connection, whose previous request had the token, may wait for its
next request."""
BODY_SECONDS = 5.0
"""How long a request's body may take to arrive once its headers are in."""
SEND_SECONDS = 10.0
"""How long an answer may take to be taken by the client."""
RETRY_SECONDS = 1
"""The Retry-After of a 503 given when the server is at capacity."""
POLL_SECONDS = 0.5
"""How often the command's server looks for a signal while no request comes."""
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
    headers: dict[str, str] = field(default_factory=dict)


def draw(request: Any, *, seconds: float = DRAW_SECONDS, large: threading.Lock | None = None,
         builds: _Builds | None = None, queue: _Queue | None = None) -> Answer:
    """Answer one ``POST /api/draw``: the figure (or one frame of its build) and its summary.

    ``request`` is the decoded JSON body::

        {"expression": "(x+y)*z", "values": {"x": "-2"}, "precision": null,
         "theme": "slides", "step": null, "format": "svg"}

    Only ``expression`` is required. A value is the text of a field (a number or a JSON
    list); a variable without one starts at 1. ``step`` asks for frame k of the
    ``--steps`` build instead of the complete figure; ``format`` ``png`` adds the PNG,
    base64-encoded. With a ``queue``, the drawing waits for its turn in it.
    """
    started = time.perf_counter()
    try:
        ask = _Request.read(request)
    except _Refused as err:
        return Answer(err.status, {"error": str(err)}, err.headers)
    try:
        graph = parse(ask.expression)
    except BackvizError as err:
        return _bad_input(err)
    texts = {name: ask.values.get(name, DEFAULT_VALUE) for name in graph.variables}
    variables = [{"name": name, "value": text} for name, text in texts.items()]
    try:
        t = _trace(graph, texts)
        drawing = _draw(ask, t, seconds, large, builds or _Builds(), queue)
    except _Refused as err:
        return Answer(err.status, {"error": str(err), "variables": variables}, err.headers)
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
          builds: _Builds, queue: _Queue | None) -> _Drawing:
    """Draw the figure or the frame asked for; a large graph waits for the lock ``large``,
    then (as every drawing) for its turn in ``queue``: so a large graph waiting for another
    holds no turn that a small one could use."""
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
                       "another large graph is being drawn; try again in a moment", RETRY_SECONDS)
    try:
        turn = _Turn() if queue is None else queue.turn(seconds)
        try:
            return _drawn(ask, t, style, frames, seconds, builds, turn)
        finally:
            turn.end()
    except RenderTimeoutError:
        raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE,
                       f"drawing this graph of {gates:,} gates took more than {seconds:g} s, and "
                       "was stopped; the command allows longer (BACKVIZ_DOT_TIMEOUT, 120 s by "
                       "default)") from None
    finally:
        if lock is not None:
            lock.release()


def _within(seconds: float, t: Trace, style: Style, format: str) -> bytes:
    """The figure drawn in ``seconds`` in all: the layout that checks its inputs' order,
    where it has one (:func:`~backviz.render.dot.to_dot`), and the drawing."""
    start = time.monotonic()
    dot = to_dot(t, style, format, seconds)
    left = seconds - (time.monotonic() - start)
    return render(dot, format, len(t.graph.gates), timeout=max(left, 0.001))


def _drawn(ask: _Request, t: Trace, style: Style, frames: int, seconds: float,
           builds: _Builds, turn: _Turn) -> _Drawing:
    """The frame ``ask.step`` of the build (its SVG drawn from the build's one layout), or
    the figure."""
    if ask.step is not None and frames:
        step = min(ask.step, frames - 1)
        frame, svg = builds.frame(ask, t, style, step, seconds, turn)
        if ask.format == "svg":  # the build's own frame
            return _Drawing(svg.encode("utf-8"), frame.style, frames, step, frame.caption)
        figure = _within(seconds, t, frame.style, "png")
        return _Drawing(figure, frame.style, frames, step, frame.caption)
    figure = _within(seconds, t, style, ask.format)
    if ask.format == "svg":  # the command's figure, <desc> included
        figure = described(figure.decode("utf-8"), t, style).encode("utf-8")
    return _Drawing(figure, style, frames)


class _Refused(Exception):
    """A request refused before anything is drawn, with its status (and a Retry-After, when
    the server is at capacity)."""

    def __init__(self, status: HTTPStatus, message: str, retry: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = {} if retry is None else {"Retry-After": str(retry)}


def _busy(why: str) -> _Refused:
    return _Refused(HTTPStatus.SERVICE_UNAVAILABLE,
                    f"the server is busy ({why}); try again in a moment", RETRY_SECONDS)


class _Turn:
    """A place among the drawings under way; :meth:`end` gives it back (once), and
    :meth:`pass_on` hands it to work that goes on after the request has its answer."""

    def __init__(self, queue: _Queue | None = None) -> None:
        self._queue = queue

    def end(self) -> None:
        queue, self._queue = self._queue, None
        if queue is not None:
            queue.next()

    def pass_on(self) -> _Turn:
        """This turn, to be ended by whoever holds the one returned (this one's end does
        nothing)."""
        passed, self._queue = _Turn(self._queue), None
        return passed


class _Queue:
    """At most ``workers`` drawings at once; the others wait their turn, first come first
    served (a semaphore lets a newcomer overtake those waiting, which is what made the
    slowest answers under load many times the median), at most ``waiting`` of them."""

    def __init__(self, workers: int = WORKERS, waiting: int = WAITING) -> None:
        self._free = workers
        self._most = waiting
        self._waiting: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def turn(self, seconds: float) -> _Turn:
        """A turn, within ``seconds``; refused (503) at once when too many are waiting."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return _Turn(self)
            if len(self._waiting) >= self._most:
                raise _busy(f"{len(self._waiting)} drawings are waiting")
            called = threading.Event()
            self._waiting.append(called)
        if not called.wait(seconds):
            with self._lock:
                if not called.is_set():  # else the turn came as the wait ended: take it
                    self._waiting.remove(called)
                    raise _busy(f"no drawing could start within {seconds:g} s")
        return _Turn(self)

    def next(self) -> None:
        """A turn ends: the first one waiting gets it."""
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


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
    """The command's summary: the output by its name (f if it has none), its value, each
    input's gradient with its label in words (``de/dx``), the warnings."""
    numbers = Numbers(t, style)
    return {
        "output": t.graph.output_name or "f",
        "value": numbers.plain(t.values[-1]),
        "gradients": [[name, numbers.plain(g), t.graph.d(name)]
                      for name, g in t.gradients.items()],
        "warnings": list(t.warnings),
    }


_Built = tuple[list[Frame], Template]


class _Builds:
    """The last few builds, so that stepping runs Graphviz once per build: each frame's
    SVG is drawn from the build's one layout when it is asked for."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._frames: OrderedDict[str, _Built] = OrderedDict()
        self._laying_out: dict[str, Future[_Built]] = {}

    def frame(self, ask: _Request, t: Trace, style: Style, step: int, seconds: float,
              turn: _Turn) -> tuple[Frame, str]:
        """The build's frame ``step`` and its SVG, its layout waited for at most ``seconds``
        (a RenderTimeoutError after)."""
        with self._lock:
            known = self._frames.get(ask.key)
            if known is not None:
                self._frames.move_to_end(ask.key)
            layout = self._laying_out.get(ask.key) if known is None else None
            if known is None and layout is None:
                layout = self._laying_out[ask.key] = Future()
                # The layout runs Graphviz with the command's timeout (teach.laid_out takes
                # no other): it runs in a thread of its own, so that the request has its
                # answer within ``seconds``. A later request of the build waits for it too.
                threading.Thread(target=self._lay_out, args=(ask.key, t, style, layout),
                                 daemon=True).start()
        if known is None:
            assert layout is not None
            try:
                known = layout.result(timeout=seconds)
            except TimeoutError:
                # The layout goes on: it keeps this request's turn until it ends, so that
                # the work under way stays bounded.
                passed = turn.pass_on()
                layout.add_done_callback(lambda _: passed.end())
                raise _Refused(HTTPStatus.SERVICE_UNAVAILABLE,
                               f"laying out the frames of this graph took more than {seconds:g} s; "
                               "it goes on: ask for the frame again in a moment",
                               RETRY_SECONDS) from None
        made, template = known
        return made[step], template.svg(made[step].style).decode("utf-8")

    def _lay_out(self, key: str, t: Trace, style: Style, layout: Future[_Built]) -> None:
        try:
            built = laid_out(t, style)
        except BaseException as err:  # given to the requests waiting for it
            with self._lock:
                del self._laying_out[key]
            layout.set_exception(err)
            return
        with self._lock:
            del self._laying_out[key]
            self._frames[key] = built
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)
        layout.set_result(built)


class LiveServer(ThreadingHTTPServer):
    """The live page's server, on 127.0.0.1 at ``port`` (0: any free port)."""

    daemon_threads = True
    # socketserver's default backlog is 5: a classroom's pages connecting at once overflowed
    # it, and a connection refused that way is tried again by the client 1 s later.
    request_queue_size = 64

    def __init__(self, start: Start, port: int = 0, seconds: float = DRAW_SECONDS, *,
                 workers: int = WORKERS, waiting: int = WAITING,
                 connections: int | None = None) -> None:
        self.start = start
        self.seconds = seconds
        self.token = secrets.token_urlsafe(32)
        self.large = threading.Lock()
        self.builds = _Builds()
        self.queue = _Queue(workers, waiting)
        self.page = _page_parts()
        self._connections = threading.BoundedSemaphore(connections or _most_connections())
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection, if fewer than ``connections`` are served; else a
        503 and the connection closed, from the thread that accepts (it never waits)."""
        if not self._connections.acquire(blocking=False):
            _turn_away(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: nothing else gives the place back
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

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


def _most_connections() -> int:
    """MAX_CONNECTIONS, or half the files this process may open if that is fewer (a
    desktop's limit is often 1,024): an accept past the limit would fail before the bound."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(8, min(MAX_CONNECTIONS, soft // 2))


_TURNED_AWAY = json.dumps({"error": "the server is busy (as many connections as it serves "
                                    "are open); try again in a moment"}).encode("utf-8")


def _turn_away(sock: socket.socket) -> None:
    """A 503 written to a connection that is not served, if its buffer takes it at once."""
    answer = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(_TURNED_AWAY)}\r\nRetry-After: {RETRY_SECONDS}\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode() + _TURNED_AWAY
    try:
        sock.setblocking(False)
        sock.send(answer)
    except OSError:
        pass  # a client that is gone, or not reading: the close says enough


def _page_parts() -> tuple[str, str, str]:
    return tuple(  # type: ignore[return-value]
        (_STATIC / name).read_text(encoding="utf-8") for name in ("live.html", "live.css", "live.js"))


def _script_json(data: Any) -> str:
    """JSON to put inside <script>: "<" escaped, so no text can close the element."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


class _Deadline(io.RawIOBase):
    """A connection's socket, read until a deadline: a read waits only for the time left,
    so a client sending a byte now and then cannot stretch its time (a socket timeout
    alone bounds each wait, not their sum)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.until = time.monotonic() + HEADER_SECONDS

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client took too long to send its request")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: LiveServer
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm the second
    # waits for the browser's delayed ACK, 40 ms on Linux, a third of the time budget.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "backviz-live"

    def setup(self) -> None:
        super().setup()
        self._reading = _Deadline(self.connection)
        self.rfile = io.BufferedReader(self._reading)

    def handle_one_request(self) -> None:
        """One request; its line and headers are given :data:`HEADER_SECONDS` (a kept-alive
        connection's next one may first wait :data:`KEEP_ALIVE_SECONDS`)."""
        super().handle_one_request()
        self._reading.until = time.monotonic() + KEEP_ALIVE_SECONDS

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
                          builds=self.server.builds, queue=self.server.queue)
        except Exception as err:  # a bug: say so on the page, and keep serving the others
            answer = Answer(HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": f"backviz failed on this input ({type(err).__name__}: {err}); "
                         "please report it"})
        self._json(answer.status, answer.body, answer.headers)

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
        """The request's body, if its length is given and at most MAX_BODY, read within
        :data:`BODY_SECONDS` (else TimeoutError: handle_one_request closes the connection)."""
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
        self._reading.until = time.monotonic() + BODY_SECONDS
        return self.rfile.read(int(length))

    def _json(self, status: HTTPStatus, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json", headers)

    def _send(self, status: HTTPStatus, data: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.connection.settimeout(SEND_SECONDS)  # the last read left its own time left
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
    """Serve the page until a signal stops it (:class:`Stopped` or KeyboardInterrupt
    propagates, the socket closed).

    ``ready`` is called with the server once it listens (the command prints the URL).
    The signal is held, not raised where it lands, and the loop ends at the next request
    or within :data:`POLL_SECONDS`: raised inside the standard library's loop, it was
    sometimes lost, and the server ran on with every signal ignored.
    """
    with LiveServer(start, port, seconds) as server, deferred():
        server.timeout = POLL_SECONDS
        if ready is not None:
            ready(server)
        while not held():
            server.handle_request()
