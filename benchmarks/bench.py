"""Benchmarks: backviz against its performance targets.

    python benchmarks/bench.py                  every section, full sizes
    python benchmarks/bench.py --quick          a fast smoke run: smaller sizes, fewer repeats
    python benchmarks/bench.py --only numpy     one section (repeat --only for more)
    python benchmarks/bench.py --json out.json  also write every figure as JSON

This is a script, not a test: timings on a shared, noisy machine cannot be asserted
on by a test suite. To make the verdicts hold anyway, every target is a ratio of two
timings taken in the same run, the functions being compared are timed interleaved
(A B A B ...) so that a burst of load hits both, and each uses its best of several
repeats (the median is printed too, to show the spread). The exit status is 1 when a
target fails or cannot be measured.

A section is a function that times things and returns rows and targets; to add one,
write it and list it in SECTIONS.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

import numpy as np  # noqa: E402

import backviz  # noqa: E402


@dataclass
class Row:
    """One timed case."""

    label: str
    best: float  # seconds
    median: float
    runs: list[float]


@dataclass
class Target:
    """A ratio of two timings and the most it may be."""

    name: str
    measured: float | None  # None: could not be measured
    limit: float
    note: str = ""

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
                     calls: Mapping[str, int] | None = None, collector: bool = True) -> dict[str, Row]:
    """Time each case ``repeats`` times, taking turns, and keep every run's time per call.

    A run makes ``calls[label]`` calls (default 1): giving a fast case more calls makes
    its runs as long as a slow case's, so that both are as exposed to the machine's
    other load, and the best of each is comparable. The garbage of one run is collected
    before the next starts, so that no run pays for its predecessor; the collector stays
    on during a run, as it is for a user, unless ``collector`` is False.
    """
    runs: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(repeats):
        for label, fn in cases.items():
            n = calls[label] if calls else 1
            gc.collect()
            if not collector:
                gc.disable()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            runs[label].append((time.perf_counter() - start) / n)
            gc.enable()
    return {label: Row(label, min(r), statistics.median(r), r) for label, r in runs.items()}


# --- the sections ------------------------------------------------------------------------


def sum_of_products(n: int) -> tuple[str, dict[str, float]]:
    """``x0*y0 + x1*y1 + ...`` with n terms, and a random value for every variable."""
    rng = random.Random(n)
    expression = " + ".join(f"x{i}*y{i}" for i in range(n))
    values = {f"{v}{i}": rng.uniform(-1, 1) for i in range(n) for v in "xy"}
    return expression, values


def bench_linear(config: Config) -> Result:
    sizes = [1_000, 10_000] if config.quick else [1_000, 10_000, 100_000]
    cases = {f"{n:,} terms": partial(backviz.trace, *sum_of_products(n)) for n in sizes}
    # Each run traces the largest size's number of terms: 100 traces of 1,000 terms, 10 of
    # 10,000, one of 100,000. A lone 10 ms trace would often slip between two bursts of
    # load that a 2 s trace cannot miss, which would make the growth look worse than it is.
    calls = {f"{n:,} terms": max(sizes) // n for n in sizes}
    rows = list(time_interleaved(cases, config.repeats, calls).values())
    targets = [Target(f"{large.label} / {small.label}", large.best / small.best, 12.0,
                      "10x the terms: linear growth")
               for small, large in itertools.pairwise(rows)]
    # Not a target, a diagnosis: the same with Python's cyclic garbage collector paused.
    # Its full collections walk every live node, and while they are rare next to the
    # objects a small trace makes, they are not next to a large trace's.
    paused = list(time_interleaved(cases, config.repeats, calls, collector=False).values())
    for row in paused:
        row.label += ", collector paused"
    growth = ", ".join(f"{large.best / small.best:.2f}x" for small, large in itertools.pairwise(paused))
    notes = [f"with the garbage collector paused the growth per 10x is {growth}"]
    return Result(rows + paused, targets, notes)


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
        # on first use of .warnings, and the copy of W a trace keeps (it owns its values).
        "backviz.trace(text).warnings": lambda: backviz.trace(expression, W=W, x=x, b=b).warnings,
        "np.array(W), the copy a trace keeps": lambda: np.array(W),
    }, config.repeats * 4)  # each run is short: more of them steady the best
    hand, text, *_ = rows.values()
    result = Result(list(rows.values()))
    result.targets.append(Target("trace / numpy by hand", text.best / hand.best, 1.2,
                                 f"W {n}x{n}"))
    return result


SECTIONS: list[Section] = [
    Section("linear", "Linear growth: backviz.trace of x0*y0 + x1*y1 + ...", bench_linear),
    Section("micrograd", "Against micrograd 0.1.0: a 1,500-product sum", bench_micrograd),
    Section("numpy", "Against numpy by hand: sum(relu(W @ x + b)), W 2000x2000", bench_numpy),
    # The renderer and CLI sections go here: a function (Config) -> Result that times its
    # cases with time_interleaved (smaller sizes when config.quick) and states its targets.
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
        measured = "n/a" if target.measured is None else f"{target.measured:.2f}x"
        print(f"  {verdict}  {target.name}: {measured} (at most {target.limit:g}x; {target.note})")


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
    print("Times are the best of the runs; targets are ratios of times taken in this one run.")

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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
