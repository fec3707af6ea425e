"""Benchmarks: backviz against its performance targets.

    python benchmarks/bench.py                  every section, full sizes
    python benchmarks/bench.py --quick          a fast smoke run: smaller sizes, fewer repeats;
                                                its verdicts are shown but do not set the exit
                                                status (the sizes are too small to judge them)
    python benchmarks/bench.py --only numpy     one section (repeat --only for more)
    python benchmarks/bench.py --json out.json  also write every figure as JSON

This is a script, not a test: timings on a shared, noisy machine cannot be asserted
on by a test suite. To make the verdicts hold anyway, a target is a ratio of two
timings taken in the same run, the functions being compared are timed interleaved
(A B A B ...) so that a burst of load hits both, and each uses its best of several
repeats (the median is printed too, to show the spread). The exceptions are the
renderer's targets, which the issue states in seconds (a 1,000-gate figure in a few
seconds) and in labels (none on the wrong side of its line), and the live page's, stated
in milliseconds (an edit redrawn in under 150 ms), measured in headless Chromium. The exit status is 1
when a target fails or cannot be measured.

A section is a function that times things and returns rows and targets; to add one,
write it and list it in SECTIONS.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

import numpy as np  # noqa: E402

import backviz  # noqa: E402
from backviz.render import PNG_SCALE, Numbers, Style, render, to_dot  # noqa: E402
from backviz.render.numbers import adding_up, shares_of  # noqa: E402
from backviz.teach import frame_svgs  # noqa: E402


@dataclass
class Row:
    """One timed case."""

    label: str
    best: float  # seconds
    median: float
    runs: list[float]


@dataclass
class Target:
    """A ratio of two timings (or a time, or a count) and the most it may be."""

    name: str
    measured: float | None  # None: could not be measured
    limit: float
    note: str = ""
    unit: str = "x"  # "x" a ratio, " s" seconds, "" a count

    @property
    def passed(self) -> bool:
        return self.measured is not None and self.measured <= self.limit


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Config:
    quick: bool
    repeats: int


@dataclass(frozen=True)
class Section:
    name: str  # for --only
    title: str
    run: Callable[[Config], Result]


def time_interleaved(cases: Mapping[str, Callable[[], object]], repeats: int,
                     calls: Mapping[str, int] | None = None) -> dict[str, Row]:
    """Time each case ``repeats`` times, taking turns, and keep every run's time per call.

    A run makes ``calls[label]`` calls (default 1): giving a fast case more calls makes
    its runs as long as a slow case's, so that both are as exposed to the machine's
    other load, and the best of each is comparable. The garbage of one run is collected
    before the next starts, so that no run pays for its predecessor; the collector stays
    on during a run, as it is for a user.
    """
    runs: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, fn in cases.items():
            n = calls[label] if calls else 1
            gc.collect()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            runs[label].append((time.perf_counter() - start) / n)
    return {label: Row(label, min(r), statistics.median(r), r) for label, r in runs.items()}


# --- the sections ------------------------------------------------------------------------


def sum_of_products(n: int) -> tuple[str, dict[str, float]]:
    """``x0*y0 + x1*y1 + ...`` with n terms, and a random value for every variable."""
    rng = random.Random(n)
    expression = " + ".join(f"x{i}*y{i}" for i in range(n))
    values = {f"{v}{i}": rng.uniform(-1, 1) for i in range(n) for v in "xy"}
    return expression, values


def staged_program(n: int) -> str:
    """A program of n statements, each using the value named by the one before."""
    return "\n".join(["v0 = x * 2"] + [f"v{k} = v{k - 1} * 1.0001 + x  # step {k}"
                                         for k in range(1, n)])


def tokens_and_names(text: str) -> dict[str, int]:
    """The least any parser of ``text`` must do: cut it into tokens and number its names."""
    numbers: dict[str, int] = {}
    for token in re.findall(r"\w+|\S", text):
        numbers.setdefault(token, len(numbers))
    return numbers


def bench_linear(config: Config) -> Result:
    sizes = [1_000, 10_000] if config.quick else [1_000, 10_000, 100_000]
    cases: dict[str, Callable[[], object]] = {}
    calls: dict[str, int] = {}
    for n in sizes:
        text, values = sum_of_products(n)
        cases[f"{n:,} terms"] = partial(backviz.trace, text, values)
        cases[f"{n:,} terms, floor"] = partial(tokens_and_names, text)
        # Each run does the largest size's number of terms: 100 traces of 1,000 terms, 10
        # of 10,000, one of 100,000. A lone 10 ms trace would often slip between two bursts
        # of load that a 2 s trace cannot miss, which would make the growth look worse.
        calls[f"{n:,} terms"] = calls[f"{n:,} terms, floor"] = max(sizes) // n
    # A program of statements, each naming the one before: parsed in linear time too.
    programs = [1_000, 10_000]
    for n in programs:
        cases[f"parse {n:,} statements"] = partial(backviz.parse, staged_program(n))
        calls[f"parse {n:,} statements"] = max(programs) // n
    rows = time_interleaved(cases, config.repeats, calls)
    traces = [rows[f"{n:,} terms"] for n in sizes]
    floors = [rows[f"{n:,} terms, floor"] for n in sizes]
    targets = [Target(f"{large.label} / {small.label}", large.best / small.best, 12.0,
                      "10x the terms: linear growth")
               for small, large in itertools.pairwise(traces)]
    small, large = (rows[f"parse {n:,} statements"] for n in programs)
    targets.append(Target(f"{large.label} / {small.label}", large.best / small.best, 12.0,
                          "10x the statements: linear growth"))
    # Not a target, a yardstick: the floor does a fixed amount of work per term too, yet its
    # time grows faster than its work once its objects outgrow the processor's caches.
    growth = ", ".join(f"{large.best / small.best:.2f}x" for small, large in itertools.pairwise(floors))
    notes = [f"the floor (re.findall of the same text, then a dict numbering its names: work "
             f"that is linear) grows {growth} per 10x on this machine"]
    return Result(list(rows.values()), targets, notes)


def bench_micrograd(config: Config) -> Result:
    n = 1_500
    result = Result()
    try:
        from micrograd.engine import Value  # type: ignore[import-untyped]
    except ImportError:
        message = "micrograd is not installed: pip install micrograd==0.1.0"
        result.notes.append(message)
        result.targets += [Target("trace(text) / micrograd", None, 1.5, message),
                           Target("trace(graph) / micrograd", None, 1.0, message)]
        return result

    expression, values = sum_of_products(n)
    xs = [values[f"x{i}"] for i in range(n)]
    ys = [values[f"y{i}"] for i in range(n)]
    graph = backviz.parse(expression)

    def micrograd() -> Any:
        # Build the Value graph (which runs the forward pass), then the backward pass.
        x = [Value(v) for v in xs]
        y = [Value(v) for v in ys]
        out = x[0] * y[0]
        for i in range(1, n):
            out = out + x[i] * y[i]
        out.backward()
        return out, x, y

    # micrograd's backward sorts the graph with a recursive function, one Python frame
    # per level: the 1,500-term chain of additions is deeper than the default limit of
    # 1,000 frames, so without this it raises RecursionError.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * n))
    try:
        out, x, y = micrograd()  # the same answer, or the race means nothing
        t = backviz.trace(expression, values)
        grads = t.gradients
        assert abs(out.data - t.value) < 1e-9
        assert all(abs(x[i].grad - grads[f"x{i}"]) < 1e-12 for i in range(n))
        assert all(abs(y[i].grad - grads[f"y{i}"]) < 1e-12 for i in range(n))

        rows = time_interleaved({
            "micrograd: build + forward + backward": micrograd,
            "backviz.trace(text): parse + forward + backward": lambda: backviz.trace(expression, values),
            "backviz.trace(graph): forward + backward": lambda: backviz.trace(graph, values),
            "backviz.parse(text)": lambda: backviz.parse(expression),
            # Trace.warnings (nan/inf checks) is worked out on first use: its cost, shown.
            "backviz.trace(text).warnings": lambda: backviz.trace(expression, values).warnings,
        }, config.repeats * 4)  # each run is short: more of them steady the best
    finally:
        sys.setrecursionlimit(limit)
    mg, text, parsed, *_ = rows.values()
    result.rows += rows.values()
    result.targets += [
        Target("trace(text) / micrograd", text.best / mg.best, 1.5, f"{n:,} products, parse included"),
        Target("trace(graph) / micrograd", parsed.best / mg.best, 1.0, "faster without the parse"),
    ]
    return result


def bench_numpy(config: Config) -> Result:
    n = 2_000
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n, n))
    x = rng.standard_normal(n)
    b = rng.standard_normal(n)
    expression = "sum(relu(W @ x + b))"

    def by_hand() -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        h = W @ x
        a = h + b
        r = np.maximum(a, 0.0)
        f = r.sum()
        dr = np.ones_like(r)  # d f / d r
        da = dr * (a > 0)
        dW = np.outer(da, x)
        dx = W.T @ da
        db = da
        return float(f), dW, dx, db

    f, dW, dx, db = by_hand()
    t = backviz.trace(expression, W=W, x=x, b=b)
    grads = t.gradients
    assert np.isclose(t.value, f)
    assert np.allclose(grads["W"], dW) and np.allclose(grads["x"], dx) and np.allclose(grads["b"], db)

    rows = time_interleaved({
        "numpy by hand: forward + backward": by_hand,
        "backviz.trace(text)": lambda: backviz.trace(expression, W=W, x=x, b=b),
        # Not part of a target, for reading the figures: the nan/inf checks, worked out
        # on first use of .warnings, and what a copy of W would cost (a trace reads a
        # float64 array through a read-only view instead of copying it).
        "backviz.trace(text).warnings": lambda: backviz.trace(expression, W=W, x=x, b=b).warnings,
        "np.array(W), a copy (which trace does not make)": lambda: np.array(W),
    }, config.repeats * 4)  # each run is short: more of them steady the best
    hand, text, *_ = rows.values()
    result = Result(list(rows.values()))
    result.targets.append(Target("trace / numpy by hand", text.best / hand.best, 1.2,
                                 f"W {n}x{n}"))
    return result


COMMAND = ("(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4")
"""The used-by command of the issue: the first figure of the lecture."""
FLOOR = "import numpy, click, graphviz"


def bench_command(config: Config) -> Result:
    result = Result()
    name = "backviz command / its floor"
    missing = [what for what, found in (("Graphviz's dot", shutil.which("dot")),
                                        ("click", find_spec("click")),
                                        ("the graphviz package", find_spec("graphviz")))
               if not found]
    if missing:
        message = f"cannot measure without {' and '.join(missing)}"
        result.notes.append(message)
        result.targets.append(Target(name, None, 1.25, message))
        return result

    with tempfile.TemporaryDirectory(prefix="backviz-bench-") as tmp:
        work = Path(tmp)
        # backviz runs from a copy of this checkout with its bytecode compiled, as an
        # installed package is: numpy, click and graphviz come compiled from site-packages,
        # and a checkout may have no __pycache__ (PYTHONDONTWRITEBYTECODE, or never run),
        # which would make every start compile backviz from source.
        for lib in ("compiled",) if config.quick else ("compiled", "source"):
            shutil.copytree(ROOT / "backviz", work / lib / "backviz",
                            ignore=shutil.ignore_patterns("__pycache__"))
        assert compileall.compile_dir(work / "compiled", quiet=1)
        environ = {**os.environ, "PYTHONPATH": str(work / "compiled")}

        def run(args: Iterable[str], env: Mapping[str, str] = environ) -> None:
            subprocess.run(list(args), cwd=work, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)

        # `python -m backviz` is what the console script runs (`from backviz.cli import
        # main`) without the script's launcher, which may be a shim of its own (pyenv's).
        command = [sys.executable, "-m", "backviz", *COMMAND]
        floor_python = [sys.executable, "-c", FLOOR]
        floor_dot = ["dot", "-Tsvg", "figure.dot", "-o", "floor.svg"]
        run([*command, "--format", "dot", "-o", "figure.dot"])
        run(command)
        run(floor_dot)
        # The floor draws the very figure the command writes, byte for byte (but for the
        # <desc> of the value and gradients that the command adds for screen readers).
        drawn = re.sub(rb"\n<desc>.*?</desc>", b"", (work / "output" / "x_y_z.svg").read_bytes())
        assert drawn == (work / "floor.svg").read_bytes()

        cases: dict[str, Callable[[], object]] = {
            "backviz command (python -m backviz)": partial(run, command),
            f"floor: python -c '{FLOOR}'": partial(run, floor_python),
            "floor: dot -Tsvg on the command's DOT": partial(run, floor_dot),
        }
        if not config.quick:
            # Not a target, a diagnosis: the same without bytecode, as from a checkout
            # under PYTHONDONTWRITEBYTECODE; the difference is what compiling backviz costs.
            cases["backviz command, backviz compiled at each start"] = partial(
                run, command, {**environ, "PYTHONPATH": str(work / "source"),
                               "PYTHONDONTWRITEBYTECODE": "1"})
        # Each run is short and the machine's load comes in bursts: more repeats (15 in a
        # full run) give the best of each side a fair chance.
        rows = time_interleaved(cases, config.repeats * 3)

    cmd, py, dot, *uncompiled = rows.values()
    floor = py.best + dot.best
    result.rows += rows.values()
    result.notes.append(f"floor = {show_time(py.best)} + {show_time(dot.best)} = {show_time(floor)}; "
                        f"the ratio of the medians is {cmd.median / (py.median + dot.median):.2f}x")
    if uncompiled:
        result.notes.append(f"without its bytecode the command is {uncompiled[0].best / floor:.2f}x "
                            "the floor (not a target: an installed package has it)")
    result.targets.append(Target(name, cmd.best / floor, 1.25,
                                 f"backviz {' '.join(COMMAND)}, end to end"))
    return result


def bushy_dag(gates: int) -> tuple[str, dict[str, float]]:
    """A random expression with exactly ``gates`` gates over about sqrt(gates) variables.

    Sub-expressions are split at random (a bushy tree, 29 gates deep at 3,000 gates where
    a sum is one gate deeper for each term) and every variable feeds many gates far apart
    (up to 44 at 3,000 gates): a DAG with long edges, which make dot's layout work hardest.
    """
    rng = random.Random(gates)
    names = [f"v{i}" for i in range(max(2, round(gates ** 0.5)))]

    def expression(k: int) -> str:  # k gates; it recurses as deep as the tree is
        if k == 0:
            return rng.choice(names)
        if k == 1 or rng.random() < 0.2:
            return f"{rng.choice(['tanh', 'sigmoid', 'abs'])}({expression(k - 1)})"
        left = rng.randint(0, k - 1)
        return f"({expression(left)} {rng.choice('+-*')} {expression(k - 1 - left)})"

    text = expression(gates)
    return text, {name: rng.uniform(-2, 2) for name in names}


def label_check(trace: backviz.Trace, svg: str) -> tuple[int, list[str]]:
    """How many labels the SVG shows, and what is wrong with them, in linear time.

    Every edge's helper node has its value in green above its rule and its gradient in
    red below it, each the number the trace holds (and so has the stub of a value used more
    than once, with its total gradient) (tests/svggeom.py's problems() checks
    more, in quadratic time: too slow for thousands of labels).
    """
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import svggeom  # type: ignore[import-not-found]

    plain = Numbers(trace, Style())
    uses = trace.graph.uses
    # A value used more than once has its shares and total written with the decimals that
    # make them add up as shown (render.numbers.adding_up); any other, the figure's own.
    numbers = [adding_up(plain, shares_of(trace, i), trace.grads[i]) if n > 1 else plain
               for i, n in enumerate(uses)]
    expected = {f"e{node.id}_{k}": (plain.scalar(trace.values[src]), numbers[src].scalar(grad))
                for node in trace.graph.nodes
                for k, (src, grad) in enumerate(zip(node.inputs, trace.edge_grads[node.id], strict=True))}
    expected["out"] = (plain.scalar(trace.values[-1]), plain.scalar(trace.grads[-1]))
    # A value used more than once: its stub shows the value and the total gradient.
    expected |= {f"s{i}": (plain.scalar(trace.values[i]), numbers[i].scalar(trace.grads[i]))
                 for i, n in enumerate(uses) if n > 1}
    figure = svggeom.read(svg)
    found: dict[str, dict[str, list[str]]] = {}
    wrong = svggeom.side_problems(figure)
    count = 0
    for text in figure.texts:
        if text.color in (svggeom.GREEN, svggeom.RED):
            count += 1
            found.setdefault(text.node, {}).setdefault(text.color, []).append(text.text)
    for node, (value, grad) in expected.items():
        shown = found.get(node, {})
        if shown.get(svggeom.GREEN) != [value] or shown.get(svggeom.RED) != [grad]:
            wrong.append(f"{node} shows {shown}, not {value} over {grad}")
    wrong += [f"{node} is not an edge of the trace" for node in found.keys() - expected.keys()]
    return count, wrong


def draw(dot: str, gates: int, into: list[str]) -> None:
    """dot -Tsvg, keeping the SVG for the label check."""
    into.append(render(dot, "svg", gates).decode("utf-8"))


SHAPES: dict[str, Callable[[int], tuple[str, dict[str, float]]]] = {
    "sum of products": lambda gates: sum_of_products((gates + 1) // 2),  # 2n - 1 gates
    "bushy DAG": bushy_dag,
}


def _has_dot(result: Result, targets: list[Target]) -> bool:
    """Whether Graphviz's dot is there; if not, these targets are reported as not measured."""
    if shutil.which("dot") is not None:
        return True
    message = "Graphviz's dot is not installed: apt-get install graphviz"
    result.notes.append(message)
    result.targets += [replace(t, note=message) for t in targets]
    return False


def bench_render(config: Config) -> Result:
    result = Result()
    if not _has_dot(result, [Target(f"{shape}, ~1,000 gates: to_dot + dot -Tsvg", None, 5.0,
                                    unit=" s") for shape in SHAPES]):
        return result
    # 3,000 gates (MAX_GATES) take dot tens of seconds, the bushy DAG's 1,000 a few: the
    # quick run draws the sum's 1,000 gates only, the full run every shape and size.
    cases = [(size, shape) for size in (100, 1_000, 3_000) for shape in SHAPES]
    if config.quick:
        cases = [(100, "sum of products"), (100, "bushy DAG"), (1_000, "sum of products")]
    labels = wrong = 0
    for size, shape in cases:
        t = backviz.trace(*SHAPES[shape](size))
        gates = len(t.graph.gates)
        dot = to_dot(t)
        svgs: list[str] = []
        name = f"{shape}, {gates:,} gates"
        # The best of several runs where that is cheap; dot on 1,000 gates takes seconds.
        repeats = {100: config.repeats * 2, 1_000: max(1, config.repeats // 2)}.get(size, 1)
        rows = time_interleaved({
            f"{name}: to_dot": partial(to_dot, t),
            f"{name}: dot -Tsvg": partial(draw, dot, gates, svgs),
        }, repeats)
        source, layout = rows.values()
        result.rows += [source, layout]
        if size == 1_000:
            result.targets.append(Target(f"{name}: to_dot + dot -Tsvg", source.best + layout.best, 5.0,
                                         "up to about 1,000 gates in a few seconds", " s"))
        count, problems = label_check(t, svgs[-1])
        labels += count
        wrong += len(problems)
        settings = re.search(r"nslimit=[0-9.]+", dot)  # see render._large_graph_settings
        result.notes.append(f"{name}: {count:,} labels, {len(problems)} wrong"
                            + (f" (first: {problems[0]})" if problems else "")
                            + (f"; dot with newrank, {settings[0]}" if settings else ""))
    result.targets.append(Target("labels wrong, in all the figures above", wrong, 0,
                                 f"of {labels:,}: green above its line, red below, the trace's numbers",
                                 ""))
    return result


LIVE_EXPRESSION = ("1/(1+exp(-(w0*x0+w1*x1+w2)))", "--w0", "2", "--x0", "-1", "--w1", "-3",
                   "--x1", "-2", "--w2", "-3")
"""The live page's target: an edit of the sigmoid neuron redraws in under 150 ms."""

# One edit in the page, timed from the edit to the first paint after the new figure is
# in the page: the input event, the page's debounce (for typing), the request, drawing,
# the answer, the SVG put in place and painted. It resolves with the total and the
# server's share (ms).
_EDIT = """
const [selector, value, done] = arguments;
const input = document.querySelector(selector);
const start = performance.now();
document.addEventListener('backviz-drawn', (e) => {
  requestAnimationFrame(() => setTimeout(() => done([performance.now() - start, e.detail.ms]), 0));
}, {once: true});
input.value = value;
input.dispatchEvent(new Event('input', {bubbles: true}));
"""

_FIRST = """
const done = arguments[0];
(function wait() { document.querySelector('#figure svg') ? done() : setTimeout(wait, 10); })();
"""


def bench_live(config: Config) -> Result:
    result = Result()
    edits = 20 if config.quick else 100
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        message = "cannot measure without selenium (pip install selenium)"
        result.targets.append(Target("live redraw", None, 150, message, " ms"))
        return result
    browser, driver = shutil.which("chromium") or shutil.which("chromium-browser"), \
        shutil.which("chromedriver")
    if not (browser and driver and shutil.which("dot")):
        message = "cannot measure without chromium, chromedriver and Graphviz's dot"
        result.targets.append(Target("live redraw", None, 150, message, " ms"))
        return result

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "backviz", "live", "--no-browser",
                               *LIVE_EXPRESSION], stdout=subprocess.PIPE, env=env, text=True)
    options = Options()
    options.binary_location = browser
    with tempfile.TemporaryDirectory(prefix="backviz-bench-") as profile:
        for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", f"--user-data-dir={profile}",
                    "--window-size=1280,800"):
            options.add_argument(arg)
        chrome = webdriver.Chrome(service=Service(driver), options=options)
        try:
            assert server.stdout is not None
            chrome.get(server.stdout.readline().strip())
            chrome.set_script_timeout(30)
            # the first drawing (it makes the fields), then a few edits not timed (the
            # browser warms up)
            chrome.execute_async_script(_FIRST)
            for k in range(5):
                chrome.execute_async_script(_EDIT, '.slider[data-for="w0"]', str(k / 10))
            times: dict[str, list[tuple[float, float]]] = {"slider": [], "typing": []}
            for k in range(edits):
                # interleaved, so that a burst of load hits both kinds of edit
                times["slider"].append(tuple(chrome.execute_async_script(   # type: ignore[arg-type]
                    _EDIT, '.slider[data-for="w0"]', f"{(k % 50) / 10 - 2.5:g}")))
                times["typing"].append(tuple(chrome.execute_async_script(  # type: ignore[arg-type]
                    _EDIT, 'input[name="x0"]', f"{-1 - (k % 50) / 100:g}")))
        finally:
            chrome.quit()
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)

    for kind, label in (("slider", "moving a slider"),
                        ("typing", "typing a value (30 ms debounce included)")):
        total = [t / 1000 for t, _ in times[kind]]
        drawing = [d / 1000 for _, d in times[kind]]
        p90 = statistics.quantiles(total, n=10)[-1]
        result.rows.append(Row(f"edit of the sigmoid neuron, {label}", min(total),
                               statistics.median(total), total))
        result.rows.append(Row(f"  of which the server drew ({label.split(' (')[0]})",
                               min(drawing), statistics.median(drawing), drawing))
        result.notes.append(f"{label}: median {statistics.median(total) * 1000:.0f} ms, "
                            f"p90 {p90 * 1000:.0f} ms, worst {max(total) * 1000:.0f} ms "
                            f"over {len(total)} edits")
        result.targets.append(Target(f"live redraw, {label}: p90", p90 * 1000, 150,
                                     "edit to paint, in headless chromium", " ms"))
    return result


LOAD_CLIENTS = 20
"""The load the live page is made for: a classroom projector and a few laptops, 20 clients
with a drawing asked each at once, one after the other (a page sends its next edit when the
answer is in)."""
LOAD_RATIO = 20
"""The load target: under 20 clients, p99 at most 20x one client's p50. Two cores draw two
figures at a time, so 20 requests in flight wait for about 10 drawings each: 10x is the
floor, and the margin is for a machine doing other work."""


def _load_client(port: int, token: str, requests: int, seed: int,
                 into: list[float], statuses: list[int]) -> None:
    """One page's edits: ``requests`` drawings of the sigmoid neuron, each w0 another value,
    on one kept-alive connection (as a browser's fetch); each latency in seconds."""
    import http.client

    expression, options = LIVE_EXPRESSION[0], LIVE_EXPRESSION[1:]
    texts = {name.lstrip("-"): value for name, value in zip(options[::2], options[1::2], strict=True)}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for k in range(requests):
            texts["w0"] = f"{(seed * 7 + k) % 50 / 10 - 2.5:g}"
            body = json.dumps({"expression": expression, "values": texts}).encode()
            start = time.perf_counter()
            try:
                conn.request("POST", "/api/draw", body=body,
                             headers={"X-Backviz-Token": token, "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
            except (OSError, http.client.HTTPException):
                statuses.append(0)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            into.append(time.perf_counter() - start)
    finally:
        conn.close()


def _under_load(port: int, token: str, clients: int, requests: int) -> tuple[list[float], list[int]]:
    """``clients`` threads, each a page sending ``requests`` drawings; every latency, every
    status (0: no answer)."""
    import threading

    latencies: list[float] = []
    statuses: list[int] = []
    threads = [threading.Thread(target=_load_client,
                                args=(port, token, requests, seed, latencies, statuses))
               for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return latencies, statuses


def _percentile(times: list[float], p: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[p - 1] if len(times) > 1 \
        else times[0]


def bench_load(config: Config) -> Result:
    """backviz live under 20 concurrent clients, against one client, on 127.0.0.1."""
    result = Result()
    name = f"live page, {LOAD_CLIENTS} clients: p99 / one client's p50"
    if not _has_dot(result, [Target(name, None, LOAD_RATIO)]):
        return result
    rounds, requests = (1, 5) if config.quick else (4, 10)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "backviz", "live", "--no-browser",
                               *LIVE_EXPRESSION], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert server.stdout is not None
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)",
                             server.stdout.readline().strip())
        assert match, "backviz live printed no address"
        port, token = int(match[1]), match[2]
        _under_load(port, token, 1, 5)  # warm up: the first drawing imports the renderer
        one: list[float] = []
        many: list[float] = []
        statuses: list[int] = []
        for _ in range(rounds):  # taking turns, so that a burst of load hits both
            one += _under_load(port, token, 1, requests * 2)[0]
            times, answered = _under_load(port, token, LOAD_CLIENTS, requests)
            many += times
            statuses += answered
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    single = statistics.median(one)
    for label, times in (("1 client", one), (f"{LOAD_CLIENTS} clients at once", many)):
        result.rows.append(Row(f"a drawing of the sigmoid neuron, {label}", min(times),
                               statistics.median(times), times))
        result.notes.append(f"{label}: p50 {statistics.median(times) * 1000:.0f} ms, "
                            f"p99 {_percentile(times, 99) * 1000:.0f} ms, "
                            f"worst {max(times) * 1000:.0f} ms over {len(times)} requests")
    refused = sum(1 for s in statuses if s != 200)
    result.targets.append(Target(name, _percentile(many, 99) / single, LOAD_RATIO,
                                 f"a drawing per core at once, the others queued; one client's p50 "
                                 f"{single * 1000:.0f} ms"))
    result.targets.append(Target(f"live page, {LOAD_CLIENTS} clients: requests not drawn", refused,
                                 0, f"of {len(statuses)}: 20 clients are within capacity", ""))
    return result


def command_args(expression: str, values: Mapping[str, float]) -> list[str]:
    """The command line that draws an expression with its values."""
    return [expression, *(a for name, v in values.items() for a in (f"--{name}", repr(v)))]


def bench_build(config: Config) -> Result:
    """A --steps build against drawing its figure once, both end to end."""
    result = Result()
    name = "81-frame build / its figure once"
    if not _has_dot(result, [Target(name, None, 2.0)]):
        return result
    expression, values = sum_of_products(40)  # 79 gates: 81 frames
    args = command_args(expression, values)
    def tool(command: list[str], data: bytes) -> None:
        subprocess.run(command, input=data, stdout=subprocess.DEVNULL, check=True)

    with tempfile.TemporaryDirectory(prefix="backviz-bench-") as tmp:
        def run(*extra: str) -> None:
            subprocess.run([sys.executable, "-m", "backviz", *args, *extra], cwd=tmp,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

        run("--steps", "-o", "build")
        frames = len(list(Path(tmp, "build").glob("frame-*.svg")))
        assert frames == 81, frames
        rows = time_interleaved({
            "backviz EXPR --steps (81 SVG frames and the page)": partial(run, "--steps", "-o", "build"),
            "backviz EXPR (the figure once)": partial(run),
        }, config.repeats)
        build, once = rows.values()
        result.rows += rows.values()
        result.targets.append(Target(name, build.best / once.best, 2.0,
                                     "a 79-gate sum of products, end to end"))

        # How PNG frames could be drawn (docs/teaching.md says which and why): time per frame,
        # a middle frame of this build and of the sigmoid neuron's, at the default scale.
        from backviz.gallery import load

        neuron = load(ROOT / "expressions" / "sigmoid_neuron.toml")
        ways: dict[str, Callable[[], object]] = {}
        for what, tr in (("sigmoid neuron", backviz.trace(neuron.expression, neuron.values)),
                         ("79-gate sum", backviz.trace(expression, values))):
            made = frame_svgs(tr)
            frame, svg = made[len(made) // 2]
            dot = to_dot(tr, frame.style, "png")  # its dpi gives the default pixels per point
            laid_out = render(dot, "dot", len(tr.graph.gates))
            ways[f"a PNG frame of the {what}: dot -Tpng on the frame's DOT"] = partial(
                render, dot, "png", len(tr.graph.gates))
            ways[f"a PNG frame of the {what}: neato -n2 -Tpng on it laid out"] = partial(
                tool, ["neato", "-n2", "-Tpng"], laid_out)
            if shutil.which("rsvg-convert"):
                dpi = f"{72 * PNG_SCALE:g}"
                ways[f"a PNG frame of the {what}: rsvg-convert of the SVG frame"] = partial(
                    tool, ["rsvg-convert", "--dpi-x", dpi, "--dpi-y", dpi], svg.encode("utf-8"))
        if not shutil.which("rsvg-convert"):
            result.notes.append("rsvg-convert (librsvg2-bin) is not installed: not timed")
        result.rows += time_interleaved(ways, 1 if config.quick else 2).values()
    return result


def bench_gallery(config: Config) -> Result:
    """The gallery folder, drawn in parallel, against its files one after another."""
    result = Result()
    name = "gallery folder / its files one by one"
    if not _has_dot(result, [Target(name, None, 0.75)]):
        return result
    from click.testing import CliRunner

    from backviz.cli import cli
    from backviz.gallery import find

    files = [str(p) for p in find(ROOT / "expressions")]
    with tempfile.TemporaryDirectory(prefix="backviz-bench-") as tmp:
        here = os.getcwd()
        os.chdir(tmp)  # the command writes output/ under the current folder
        try:
            def invoke(args: list[str]) -> None:
                done = CliRunner().invoke(cli, args)
                assert done.exit_code == 0, done.output

            def one_by_one() -> None:
                # The same command drawing one file at a time (what it did before).
                with mock.patch.object(os, "cpu_count", lambda: 1):
                    invoke(folder)

            folder = [str(ROOT / "expressions")]
            rows = time_interleaved({
                f"backviz expressions/ ({len(files)} files, {os.cpu_count()} cores)":
                    partial(invoke, folder),
                "the same, drawing one file after another": one_by_one,
            }, config.repeats)
        finally:
            os.chdir(here)
    folder, serial = rows.values()
    result.rows += rows.values()
    result.targets.append(Target(name, folder.best / serial.best, 0.75,
                                 "in one process: the folder's drawings run at once"))
    return result


def _torch_mlp(batch: int) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    """A two-layer MLP with cross-entropy on a batch: the loss, and the loss with its
    backward pass; None without torch."""
    if find_spec("torch") is None:
        return None
    import torch
    import torch.nn.functional as F

    # One thread: torch's spare threads spin after each operation and took the cores from
    # numpy's (the same matrix product varied 30x from run to run on 2 cores).
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10)).double()
    x = torch.randn(batch, 64, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,))

    def loss() -> Any:
        return F.cross_entropy(model(x), y)

    def with_backward() -> Any:
        model.zero_grad()
        out = loss()
        out.backward()
        return out

    return loss, with_backward


def bench_bridges(config: Config) -> Result:
    """from_torch against the program and its backward pass; micrograd's MLP of ~1,000 Values
    traced and drawn."""
    result = Result()
    made = _torch_mlp(16 if config.quick else 256)
    if made is None:
        message = "torch is not installed: pip install 'backviz[torch]'"
        result.notes.append(message)
        result.targets.append(Target("recording / fn and its backward pass", None, 2.0,
                                     message))
    else:
        loss, with_backward = made
        from backviz.bridges.torch import record

        def recorded() -> Any:  # fn run under the recorder, and the graph made of it
            recorder, out = record(loss, (), {})
            return recorder.rec.graph(recorder.node[id(out)])

        rows = time_interleaved({
            "torch: the MLP's loss and its backward pass": with_backward,
            "recording: fn under the recorder, the graph made": recorded,
            "backviz.from_torch(loss): recorded and traced": lambda: backviz.from_torch(loss),
        }, config.repeats * 4)
        plain, recording, bridged = rows.values()
        result.rows += rows.values()
        result.targets.append(Target("recording / fn and its backward pass",
                                     recording.best / plain.best, 2.0,
                                     "two-layer MLP 64-128-10, cross-entropy on 256, float64"))
        result.notes.append(f"from_torch in all, the engine's numpy passes included: "
                            f"{bridged.best / plain.best:.2f}x fn and its backward pass")
    result.targets += _micrograd_mlp(config, result)
    return result


def _micrograd_mlp(config: Config, result: Result) -> list[Target]:
    """micrograd's MLP(3, [16, 16, 1]) on one example: about 1,000 Values, its neurons
    collapsed, under the drawing limit and drawn in a few seconds."""
    if find_spec("micrograd") is None:
        message = "micrograd is not installed: pip install micrograd==0.1.0"
        result.notes.append(message)
        return [Target("micrograd MLP, ~1,000 Values: gates", None, backviz.render.MAX_GATES,
                       message, "")]
    from micrograd.nn import MLP  # type: ignore[import-untyped]

    random.seed(0)
    model = MLP(3, [16, 16, 1])
    loss = lambda x: (model(x) - 1.0) ** 2
    rows = time_interleaved({
        "micrograd: the MLP's loss and backward()": lambda: loss([2.0, 3.0, -1.0]).backward(),
        "backviz.from_micrograd(loss, x)": lambda: backviz.from_micrograd(loss, [2.0, 3.0, -1.0]),
    }, config.repeats * 2)
    result.rows += rows.values()
    t = backviz.from_micrograd(loss, [2.0, 3.0, -1.0])
    gates = len(t.graph.gates)
    result.notes.append(f"micrograd MLP(3, [16, 16, 1]): {len(t.graph):,} nodes, {gates:,} gates; "
                        f"{len(t.collapse('Neuron').graph.gates)} collapsed")
    targets = [Target("micrograd MLP, ~1,000 Values: gates", gates, backviz.render.MAX_GATES,
                      "under the drawing limit", "")]
    if shutil.which("dot") is not None:
        drawn = time_interleaved({"micrograd MLP: to_dot + dot -Tsvg": t.to_svg}, 1)
        result.rows += drawn.values()
        (row,) = drawn.values()
        targets.append(Target("micrograd MLP: to_dot + dot -Tsvg", row.best, 5.0,
                              "as the render times of ~1,000 gates", " s"))
    return targets


SECTIONS: list[Section] = [
    Section("linear", "Linear growth: backviz.trace of x0*y0 + x1*y1 + ...", bench_linear),
    Section("micrograd", "Against micrograd 0.1.0: a 1,500-product sum", bench_micrograd),
    Section("numpy", "Against numpy by hand: sum(relu(W @ x + b)), W 2000x2000", bench_numpy),
    Section("command", 'The command, end to end: backviz "(x+y)*z" --x -2 --y 5 --z -4',
            bench_command),
    Section("render", "Render times: to_dot and dot -Tsvg, 100 to 3,000 gates", bench_render),
    Section("live", "backviz live: an edit of the sigmoid neuron, to the new figure painted",
            bench_live),
    Section("load", "backviz live under load: 20 clients at once against one, on 127.0.0.1",
            bench_load),
    Section("bridges", "from_torch and from_micrograd: a PyTorch MLP, micrograd's MLP",
            bench_bridges),
    Section("build", "A --steps build: 81 frames from one layout, and PNG frames", bench_build),
    Section("gallery", "The gallery folder: drawn in parallel", bench_gallery),
]


# --- running and reporting -------------------------------------------------------------


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "backviz": backviz.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load] if load else None,
    }


def show_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def report(section: Section, result: Result) -> None:
    print(f"\n== {section.title} ==")
    for note in result.notes:
        print(f"  note: {note}")
    if result.rows:
        width = max(len(r.label) for r in result.rows)
        print(f"  {'case':<{width}}  {'best':>10}  {'median':>10}  runs")
        for r in result.rows:
            print(f"  {r.label:<{width}}  {show_time(r.best):>10}  {show_time(r.median):>10}  {len(r.runs)}")
    for target in result.targets:
        verdict = "PASS" if target.passed else "FAIL"
        measured = ("n/a" if target.measured is None else
                    f"{target.measured:.2f}{target.unit}" if target.unit else f"{target.measured:g}")
        print(f"  {verdict}  {target.name}: {measured} (at most {target.limit:g}{target.unit}; "
              f"{target.note})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: smaller sizes and fewer repeats")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the figures as JSON")
    parser.add_argument("--only", action="append", choices=[s.name for s in SECTIONS],
                        help="run only this section (may be repeated)")
    parser.add_argument("--repeats", type=int,
                        help="timed runs per case (default 5, quick 2; short-run sections make 4x as many)")
    args = parser.parse_args(argv)

    config = Config(quick=args.quick, repeats=args.repeats or (2 if args.quick else 5))
    info = machine()
    print(f"backviz {info['backviz']}, Python {info['python']}, numpy {info['numpy']}, "
          f"{info['cpus']} CPUs, load average {info['load_average']}")
    print("Times are the best of the runs; targets are ratios of times taken in this one run, "
          "unless they say otherwise.")

    results: list[tuple[Section, Result]] = []
    for section in SECTIONS:
        if args.only and section.name not in args.only:
            continue
        result = section.run(config)
        report(section, result)
        results.append((section, result))

    targets = [t for _, r in results for t in r.targets]
    failed = [t for t in targets if not t.passed]
    print(f"\n{len(targets) - len(failed)} of {len(targets)} targets pass"
          + (" (quick run: smaller sizes, fewer repeats)" if config.quick else ""))

    if args.json:
        data = {
            "machine": info,
            "quick": config.quick,
            "repeats": config.repeats,
            "sections": [{"name": s.name, "title": s.title, "notes": r.notes,
                          "rows": [asdict(row) for row in r.rows],
                          "targets": [{**asdict(t), "passed": t.passed} for t in r.targets]}
                         for s, r in results],
            "passed": not failed,
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    # A quick run checks that every section runs; its sizes are too small to judge a target.
    return 1 if failed and not config.quick else 0


if __name__ == "__main__":
    sys.exit(main())
