"""Teaching mode: the backward pass one gate at a time, as the lecture builds its figures.

The lecture never shows a finished figure: it starts from the forward values, writes
the output's gradient 1, then visits the gates right to left and at each one says
"[local gradient] x [upstream gradient]". This module turns a :class:`Trace` into
those steps:

- :func:`steps`: one :class:`Step` per gate, in reverse topological order, with the
  chain-rule product for each of the gate's inputs and the sums it completes where a
  value feeds more than one gate ("gradients add at branches");
- :func:`frames`: the figures of the build, as :class:`~backviz.render.Style` s for
  :func:`~backviz.render.to_dot` (frame 0 the forward values, frame 1 adds the output
  gradient, then one frame per step; the last has every number of the figure);
- :func:`explain`: the same steps in words, one line each;
- :func:`check`: every gradient against central differences.

A product is written ``(local)(upstream) = result``, one notation for every gate: at
``1/x`` in the sigmoid figure ``(-1/1.37^2)(1.00) = -0.53``, at an add gate
``(1)(0.20) = 0.20 to both inputs``. The local gradient's text comes from the
operator table (``Op.local``); the numbers are rounded as the figure shows them, so
the result is the exact product rounded, not the product of the rounded factors.
Arrays of more than four elements are written by their shape (``[2×3 values]``),
their results by shape and range.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import BackvizError, TooLargeError
from .evaluate import local_texts, vjp
from .graph import INPUT, Node
from .ops import OPS, UPSTREAM
from .page import page
from .render.animate import PIXELS_PER_POINT, animation
from .render.backend import Drawings, render
from .render.dot import PNG_SCALE, gate_labels, to_dot
from .render.export import BUILD_FILES
from .render.metrics import note_width
from .render.numbers import Numbers, adding_up
from .render.style import STUB, TOTAL, Note, Style
from .render.tikz import PAD, beamer
from .template import Template
from .text import short

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = [
    "BUILD_FILES",
    "BUILD_FORMATS",
    "MAX_ANIMATION_FRAMES",
    "MAX_STEPS",
    "SAMPLE",
    "STEP",
    "TOLERANCE",
    "BranchSum",
    "Build",
    "CheckReport",
    "CheckResult",
    "Frame",
    "Product",
    "Step",
    "build",
    "build_file",
    "check",
    "check_lines",
    "explain",
    "frame_svgs",
    "frames",
    "laid_out",
    "steps",
]

Array = Any  # np.float64 or np.ndarray

TOLERANCE = 1e-6
"""--check fails when an input's largest relative error is above this."""
STEP = 1e-5
"""The central-difference step, relative to the element's magnitude (at least 1)."""
MAX_STEPS = 300
MAX_ANIMATION_FRAMES = 80
"""A GIF or APNG of more frames takes minutes and hundreds of MB to encode, and is too long
to follow as a loop: it is refused at once, before any frame is drawn."""
"""A build has one frame per gate; above this many gates it is refused."""
_INLINE = 4  # arrays with more elements are written by their shape in the products

# The verbs of the slides' gradient patterns (the operator table names the pattern).
_VERBS = {"distributor": "distributes", "router": "routes", "switcher": "switches"}


@dataclass(frozen=True)
class Product:
    """The chain rule for one input of a gate: ``(local)(upstream) = result``."""

    to: Node
    """The input the gradient is sent to."""
    text: str
    to_words: str = ""
    """The input in words: its name, or what was written (``w0*x0``)."""


@dataclass(frozen=True)
class BranchSum:
    """A value that feeds several gates: its gradient so far, the sum of the shares."""

    node: Node
    text: str
    """``-4 + 3 = -1``"""
    words: str = ""
    """The value in words: its name, or what was written."""


@dataclass(frozen=True)
class Step:
    """One gate of the backward pass: what it sends to its inputs, what sums it completes."""

    gate: Node
    products: tuple[Product, ...]
    sums: tuple[BranchSum, ...]
    where: str = ""
    """What the gate computes, in words that tell it from every other gate: a name (``q``),
    or what was written (``w0*x0``)."""

    @property
    def lines(self) -> list[str]:
        """The products as written beside the gate, one line per input."""
        texts = [p.text for p in self.products]
        if not texts:
            return ["nothing to send back to given data"]
        if len(texts) == 1 and len(self.gate.inputs[:OPS[self.gate.op].index_from]) == 1:
            return texts
        if len(texts) > 1 and len(set(texts)) == 1:
            return [f"{texts[0]} to both inputs"]
        return [f"{p.text} to {p.to_words}" for p in self.products]

    @property
    def sentence(self) -> str:
        """The step in words, with the gate's pattern and the sums at branches named."""
        text = ", ".join(self.lines)
        pattern = OPS[self.gate.op].pattern
        if pattern:
            verb = _VERBS.get(pattern, f"is a {pattern}")
            text += f": the {self.gate.op} gate {verb}"
        if self.sums:
            sums = ", ".join(f"{s.words} gets {s.text}" for s in self.sums)
            text += f"; gradients add at branches: {sums}"
        return text


@dataclass(frozen=True)
class Frame:
    """One figure of a build: how to draw it, and what it shows in words."""

    style: Style
    caption: str




def _writer(numbers: Numbers) -> Callable[[Array], str]:
    """How the products write a value: as the figure does, a large array by its shape."""
    def write(x: Array) -> str:
        if np.ndim(x) == 0:
            return numbers.scalar(x)
        if np.size(x) <= _INLINE:
            return numbers.plain(x)
        return "[" + "×".join(map(str, np.shape(x))) + " values]"
    return write


def _result(numbers: Numbers, x: Array) -> str:
    return numbers.plain(x) if np.size(x) <= _INLINE else numbers.summary(x)


def chain(local: str, upstream: str, result: str, summed: str | None = None) -> str:
    """``(local)(upstream) = result``; a local text may place the upstream gradient itself.

    ``summed`` is the sum that takes a broadcast product back to its input's shape
    (``sum``, ``sum(..., axis=0)``): ``sum((-1)([0.00, 1.00, 0.00])) = -1.00``.
    """
    product = local.replace(UPSTREAM, upstream) if UPSTREAM in local else f"({local})({upstream})"
    if summed is not None:
        product = f"{summed}({product})" if summed == "sum" else f"sum({product}, {summed})"
    return f"{product} = {result}"


def _summed(raw: Array, shape: tuple[int, ...]) -> str | None:
    """How a gradient of ``raw``'s shape was summed back to ``shape`` (None: it was not).

    Broadcasting copied the input along these axes, so its gradient adds up over them.
    """
    got = np.shape(raw)
    if got == shape:
        return None
    extra = len(got) - len(shape)
    axes = [*range(extra), *(extra + k for k, n in enumerate(shape) if n == 1 and got[extra + k] != 1)]
    if len(axes) == len(got):
        return "sum"
    return f"axis={axes[0]}" if len(axes) == 1 else f"axis={tuple(axes)}"


def steps(trace: Evaluation, style: Style | None = None) -> list[Step]:
    """The backward pass as steps: one per gate, from the output back to the inputs."""
    numbers = Numbers(trace, style or Style())
    write = _writer(numbers)
    graph = trace.graph
    nodes, words = graph.nodes, graph.descriptions
    given = trace.data_inputs
    arrived: dict[int, list[Array]] = {}
    out: list[Step] = []
    for gate in reversed(nodes):
        if gate.op == INPUT:
            continue
        op = OPS[gate.op]
        inputs = [trace.values[i] for i in gate.inputs]
        with np.errstate(all="ignore"):
            locals_ = local_texts(op, write, trace.values[gate.id], inputs, gate.const)
            # What the gate sends back before it is summed to each input's shape.
            raw = vjp(op, trace.grads[gate.id], trace.values[gate.id], inputs, gate.const)
        upstream = write(trace.grads[gate.id])
        # Given data gets no gradient (an index neither: the index gate sends it nothing).
        carries = [(k, i) for k, i in enumerate(gate.inputs[:op.index_from]) if i not in given]
        shares = trace.edge_grads[gate.id]
        products = tuple(
            Product(nodes[i], chain(locals_[k], upstream, _result(numbers, shares[k]),
                                    _summed(raw[k], np.shape(trace.values[i]))), words[i])
            for k, i in carries)
        sums = []
        for k, i in carries:
            share = shares[k]
            terms = arrived.setdefault(i, [])
            terms.append(share)
            if len(terms) > 1:
                sums.append(BranchSum(nodes[i], _sum_text(numbers, terms), words[i]))
        out.append(Step(gate, products, tuple(sums), words[gate.id]))
    return out


def _sum_text(numbers: Numbers, terms: list[Array]) -> str:
    """``a + b = total``, written so that it adds up as shown.

    Each number is rounded to the figure's decimals. When the rounded terms do not add up
    to the rounded total (1.584 + (-0.036) = 1.548 would read 1.58 + (-0.04) = 1.55), the
    sum is written with the decimals the figure gives them (:func:`adding_up`).
    """
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    if all(np.ndim(t) == 0 for t in terms):
        numbers = adding_up(numbers, terms, total)
    write = _writer(numbers)
    written = [write(terms[0])] + [_signed(write(t)) for t in terms[1:]]
    return f"{' + '.join(written)} = {_result(numbers, total)}"


def _signed(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def frames(trace: Evaluation, style: Style | None = None) -> list[Frame]:
    """The build: forward values, then the output gradient, then one frame per gate.

    Every frame has the same layout: a gradient not known yet is drawn invisibly, and
    the band of notes under the figure has room for the most lines any frame writes,
    so the figure does not move from one frame to the next. Runs Graphviz once, to
    lay the figure out (the styles carry where the gates are, to place the notes).
    """
    return laid_out(trace, style)[0]


def frame_svgs(trace: Evaluation, style: Style | None = None) -> list[tuple[Frame, str]]:
    """Every frame of the build with its SVG, all drawn from one layout (one Graphviz run)."""
    return [(frame, svg.decode("utf-8")) for frame, svg in _drawn(trace, style or Style())]


def laid_out(trace: Evaluation, style: Style | None = None,
             drawing: bool = False) -> tuple[list[Frame], Template]:
    """The frames of the build and the template that draws each one
    (``template.svg(frame.style)``; with ``drawing``, its ``drawing`` for TikZ); runs
    Graphviz once."""
    base, planned = _plan(trace, style or Style())
    template = Template(trace, base, drawing)
    return [replace(f, style=replace(f.style, layout=template.layout)) for f in planned], template


def _drawn(trace: Evaluation, style: Style) -> list[tuple[Frame, bytes]]:
    """Every frame of the build with its SVG as UTF-8, from one layout."""
    made, template = laid_out(trace, style)
    return [(frame, template.svg(frame.style)) for frame in made]


def _plan(trace: Evaluation, style: Style) -> tuple[Style, list[Frame]]:
    """The build's style (room for its notes) and its frames, not yet laid out."""
    all_steps = steps(trace, style)
    if len(all_steps) > MAX_STEPS:
        raise TooLargeError(
            f"the expression has {len(all_steps)} gates; a build has one frame per gate and "
            f"is made for up to {MAX_STEPS} of them")
    numbers = Numbers(trace, style)
    start = _start(trace, numbers)
    notes = [tuple([Note(step.gate.id, line) for line in step.lines]
                   + [Note(s.node.id, f"gradients add at {s.words}: {s.text}")
                      for s in step.sums])
             for step in all_steps]
    texts = [start] + [note.text for step_notes in notes for note in step_notes]
    style = replace(style, note_rows=max([1, *map(len, notes)]),
                    note_width=max(map(note_width, texts)))
    shown = {STUB}
    result = [
        Frame(replace(style, gradients=frozenset()),
              f"The forward pass: every value in {style.theme.value_name}, the output "
              f"{_output(trace)} = {numbers.plain(trace.values[-1])}."),
        Frame(replace(style, gradients=frozenset(shown),
                      notes=(Note(trace.graph.output.id, start),)),
              f"The backward pass starts at the output: {start}."),
    ]
    uses = trace.graph.uses
    arrived = [0] * len(uses)
    for step, step_notes in zip(all_steps, notes, strict=True):
        shown.update((step.gate.id, i) for i in range(len(step.gate.inputs)))
        for i in step.gate.inputs:  # a value used more than once: its total, once complete
            arrived[i] += 1
            if arrived[i] == uses[i] > 1:
                shown.add((i, TOTAL))
        result.append(Frame(
            replace(style, gradients=frozenset(shown), highlight=step.gate.id, notes=step_notes),
            f"{_heading(step)}: {step.sentence}"))
    return style, result


BUILD_FORMATS = ("svg", "png")


def build(trace: Evaluation, style: Style | None = None, title: str | None = None,
          format: str = "svg", about: str | None = None) -> dict[str, bytes]:
    """The files of a build, by name: frame-00.svg, frame-01.svg, ... and index.html.

    ``format`` is svg or png (the page always inlines SVG). Everything is rendered
    before anything is returned, so a caller writes all of it or nothing.
    """
    if format not in BUILD_FORMATS:
        raise BackvizError(f"a build's frames are {' or '.join(BUILD_FORMATS)}, not {format}")
    made = _drawn(trace, style or Style())
    digits = max(2, len(str(len(made) - 1)))
    names = [f"frame-{k:0{digits}d}.{format}" for k in range(len(made))]
    if format == "svg":
        files = {name: svg for name, (_, svg) in zip(names, made, strict=True)}
    else:
        # Graphviz draws each PNG from the frame's own DOT: rasterising is nearly all of
        # the time, laying out is little, and the frames are the SVG frames (see the
        # docs/teaching.md, "One layout for every frame"). One frame per core at a time.
        files = dict(zip(names, _pngs(trace, [frame for frame, _ in made]), strict=True))
    text = page(title or trace.expression, trace.expression, [svg for _, svg in made],
                [frame.caption for frame, _ in made], files=list(files), about=about,
                theme=(style or Style()).theme, focus=[focus(frame) for frame, _ in made])
    files["index.html"] = text.encode("utf-8")
    return files


def build_file(trace: Evaluation, style: Style | None = None, title: str | None = None,
               format: str = "tex", about: str | None = None) -> bytes:
    """A build as one file, from one layout: a Beamer frame whose overlays are the frames
    (tex, see :mod:`backviz.render.tikz`), or an animation of them (gif, apng or mp4)."""
    if format not in BUILD_FILES:
        raise BackvizError(f"a build's file is {', '.join(BUILD_FILES)}, not {format}")
    frames = len(trace.graph.gates) + 2  # the forward pass, the output, then a frame per gate
    if format != "tex" and frames > MAX_ANIMATION_FRAMES:
        raise TooLargeError(
            f"an animation is made for up to {MAX_ANIMATION_FRAMES} frames, and this build has "
            f"{frames} (one per gate): draw it as a page (--steps -o FOLDER) or a Beamer frame "
            f"(-f tex), or collapse a user gate to shorten it")
    made, template = laid_out(trace, style or Style(), drawing=format == "tex")
    if format == "tex":
        head = f"backviz --steps: {len(made)} overlays of {subject(trace)}"
        head += f"\n{about}" if about else ""
        return beamer(template.drawing, [f.style for f in made], [f.caption for f in made],
                      template.edges, title or trace.expression, head).encode()
    # Posted, not projected: fewer pixels per point than a PNG frame of a build.
    size = PIXELS_PER_POINT * ((style or Style()).scale or 1.0) / PNG_SCALE
    pngs = _pngs(trace, [replace(f, style=replace(f.style, scale=size)) for f in made])
    return animation(pngs, format)


def focus(frame: Frame) -> float | None:
    """Where across the figure (0 to 1) the gate a frame is at stands: the highlighted
    gate, or the node its first note is under (the output, at df/df); None for none."""
    style, layout = frame.style, frame.style.layout
    node = style.highlight if style.highlight is not None else \
        style.notes[0].node if style.notes else None
    if layout is None or node is None or node not in layout.x:
        return None
    return (layout.x[node] + PAD) / (layout.width + 2 * PAD)


def _pngs(trace: Evaluation, frames: list[Frame]) -> list[bytes]:
    """Each frame drawn as PNG from its own DOT, one frame per core at a time. If one
    fails or a signal stops the build, the others' dot runs are ended, not waited for."""
    drawings = Drawings()

    def png(frame: Frame) -> bytes:
        return render(to_dot(trace, frame.style, "png"), "png", len(trace.graph.gates),
                      drawings=drawings)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        try:
            return list(pool.map(png, frames))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            drawings.stop()
            raise


def explain(trace: Evaluation, style: Style | None = None) -> list[str]:
    """The backward pass in words: a heading, then one line per step."""
    numbers = Numbers(trace, style or Style())
    all_steps = steps(trace, style)
    # Three columns: the gate, what it computes (its name, or what was written), the step.
    # as the figure draws them: beside an elementwise *, the matrix product is @
    drawn = gate_labels(trace)
    labels = [drawn.get(s.gate.id, s.gate.label) for s in all_steps]
    wheres = ["" if s.where == s.gate.label else s.where for s in all_steps]
    width = max([len(label) for label in labels] + [len("start")])
    room = min(max([0, *map(len, wheres)]), 32)
    def row(label: str, where: str, text: str) -> str:
        return f"  {label.ljust(width)}  {where.ljust(room) + '  ' if room else ''}{text}"

    lines = [f"backward pass of {subject(trace)} = {numbers.plain(trace.values[-1])}, "
             "one gate at a time from the output; each gradient is (local)(upstream):",
             row("start", "", _start(trace, numbers))]
    lines += [row(label, where, s.sentence)
              for label, where, s in zip(labels, wheres, all_steps, strict=True)]
    lines.append("gradients: " + ", ".join(f"{trace.graph.d(name)} = {numbers.plain(g)}"
                                           for name, g in trace.gradients.items()))
    return lines


def _output(trace: Evaluation) -> str:
    """The output in words: its name (``e``), or f, as the lecture calls it."""
    return trace.graph.output_name or "f"


def _start(trace: Evaluation, numbers: Numbers) -> str:
    """Where the backward pass starts: ``df/df = 1``, or ``de/de = 1`` for the output e."""
    out = _output(trace)
    return f"d{out}/d{out} = {numbers.scalar(1.0)}"


def subject(trace: Evaluation) -> str:
    """What the trace computes, for a heading: the expression, or a program's output name."""
    graph = trace.graph
    if "\n" in graph.expression or ";" in graph.expression:
        name = graph.output.name
        return f"the program's {name}" if name else "the program"
    return short(" ".join(graph.expression.split()), 60)  # a program on one line


def _heading(step: Step) -> str:
    """The gate and what it computes: ``1/x gate, sigy``, ``* gate, w0*x0``."""
    label = step.gate.label
    return f"{label} gate" if step.where in ("", label) else f"{label} gate, {step.where}"


# --- the gradient check -----------------------------------------------------------------

SAMPLE = 1000
"""--check compares at most this many elements (over all inputs), chosen at random with a
fixed seed, unless it is asked to check them all (``--check-all``)."""
SEED = 0
_NOISE = 100 * np.finfo(np.float64).eps  # about a hundred roundings of f, in units of |f|


@dataclass(frozen=True)
class CheckResult:
    """One input's comparison with central differences: its largest error, and where."""

    name: str
    error: float
    """The largest relative error over the checked elements (see :func:`check`)."""
    index: tuple[int, ...]
    analytic: float
    numeric: float
    checked: int = 0
    """How many of the input's elements were compared."""
    size: int = 0
    """How many elements the input has."""
    allowed: float = TOLERANCE
    """The error allowed where it is largest: the tolerance, plus f's rounding noise there."""

    @property
    def ok(self) -> bool:
        return self.error <= self.allowed


def sample(sizes: dict[str, int], limit: int | None = SAMPLE,
           seed: int = SEED) -> dict[str, np.ndarray]:
    """Which elements (flat indices) of each input to compare: all of them up to ``limit``
    in all; else each input gets an even share of ``limit`` (a small input all of its
    elements, and what it leaves goes to the larger ones), drawn at random (seeded)."""
    if limit is None or sum(sizes.values()) <= limit:
        return {name: np.arange(size) for name, size in sizes.items()}
    rng = np.random.default_rng(seed)
    share: dict[str, int] = {}
    # Shuffled first: when there are more inputs than the limit, which ones get an
    # element is drawn at random too.
    names = list(sizes)
    rng.shuffle(names)
    left, names = limit, sorted(names, key=lambda n: sizes[n])
    for k, name in enumerate(names):
        share[name] = min(sizes[name], left // (len(names) - k))
        left -= share[name]
    return {name: np.sort(rng.choice(size, size=share[name], replace=False))
            for name, size in sizes.items()}


def check(trace: Evaluation, step: float = STEP, limit: int | None = SAMPLE,
          progress: Callable[[int, int], None] | None = None) -> list[CheckResult]:
    """Compare the gradients with central differences, on every element or a sample.

    The numeric gradient is (f(x + h) - f(x - h)) / 2h with h = step * max(1, |x|); when
    that is not within the tolerance, the differences at h and h/2 are combined
    (Richardson: (4 D(h/2) - D(h)) / 3), which removes the h**2 term that a large |x|, and
    so a large h, makes large (sin(x) at 1000). The error is |a - n| / max(|a|, |n|,
    1e-4 (1 + |f|)), and it may reach the tolerance plus f's rounding noise: about
    100 eps |f| / h, in the same units (differences below it say nothing). A nan or inf
    anywhere is an error of inf. An input within h of a kink (relu at 0, a tie in max)
    fails: the differences straddle the kink.

    ``limit`` bounds how many elements are compared in all (None: every one; see
    :func:`sample`); ``progress(done, total)`` is called after each element.
    """
    trace = trace.uncollapsed or trace  # a collapsed view is checked on the graph it draws
    f0 = trace.value
    floor = 1e-4 * (1 + abs(f0)) if math.isfinite(f0) else 1.0
    inputs = trace.inputs
    gradients = trace.gradients  # a property that copies every gradient: read it once
    # An index input has integers and no gradient: it is not checked.
    values = {name: np.array(value, dtype=np.float64) for name, value in inputs.items()
              if name in gradients}
    chosen = sample({name: x.size for name, x in values.items()}, limit)
    total = sum(len(c) for c in chosen.values())
    done = 0
    results = []
    for name, x in values.items():
        analytic = np.asarray(gradients[name], dtype=np.float64)
        worst = CheckResult(name, 0.0, (), 0.0, 0.0, len(chosen[name]), x.size)
        moved = {**inputs, name: x}  # x is a copy: each element is moved in place, then back
        for flat in chosen[name]:
            index = tuple(map(int, np.unravel_index(int(flat), x.shape))) if x.ndim else ()
            a = float(analytic[index])
            h = step * max(1.0, abs(float(x[index])))
            numeric, error, allowed = _compare(trace, moved, name, index, h, a, floor)
            if error / allowed > worst.error / worst.allowed:
                worst = replace(worst, error=error, index=index, analytic=a, numeric=numeric,
                                allowed=allowed)
            done += 1
            if progress is not None:
                progress(done, total)
        results.append(worst)
    return results


def _compare(trace: Evaluation, inputs: dict[str, Any], name: str, index: tuple[int, ...],
             h: float, a: float, floor: float) -> tuple[float, float, float]:
    """The numeric gradient of one element, its relative error, and the error allowed."""
    def difference(step: float) -> tuple[float, float]:
        with np.errstate(all="ignore"):
            up = _moved(trace, inputs, name, index, step)
            down = _moved(trace, inputs, name, index, -step)
        noise = _NOISE * max(abs(up), abs(down)) / step
        return (up - down) / (2 * step), noise

    numeric, noise = difference(h)
    error, allowed = _error(a, numeric, floor), _allowed(a, numeric, floor, noise)
    if math.isfinite(error) and error > allowed:
        half, noise_half = difference(h / 2)
        numeric = (4 * half - numeric) / 3
        noise = (4 * noise_half + noise) / 3
        error, allowed = _error(a, numeric, floor), _allowed(a, numeric, floor, noise)
    return numeric, error, allowed


def _allowed(a: float, n: float, floor: float, noise: float) -> float:
    """The tolerance, plus the rounding noise of the differences in the error's units."""
    scale = max(abs(a), abs(n), floor)
    return TOLERANCE + (noise / scale if math.isfinite(noise) else 0.0)


def _moved(trace: Evaluation, inputs: dict[str, Any], name: str, index: tuple[int, ...],
           delta: float) -> float:
    """The output with one element of one input moved by delta (``inputs[name]`` is a
    float64 array of the check's own, changed for the call and put back)."""
    x = inputs[name]
    before = x[index]
    x[index] = before + delta
    try:
        return trace.output_with({**inputs, name: x[()] if x.ndim == 0 else x})
    finally:
        x[index] = before


def _error(a: float, n: float, floor: float) -> float:
    if not (math.isfinite(a) and math.isfinite(n)):
        return math.inf
    return abs(a - n) / max(abs(a), abs(n), floor)


def check_lines(trace: Evaluation, results: list[CheckResult]) -> list[str]:
    """The check's report: one line per input, and the verdict."""
    width = max(len(r.name) for r in results) if results else 0
    lines = [f"gradient check of {subject(trace)}: central differences, "
             f"step {STEP:g} max(1, |x|), tolerance {TOLERANCE:g}"]
    lines += [_result_line(r, width) for r in results if r.checked]
    if any(r.checked < r.size for r in results):
        lines.append(_sampled_line(results))
    return lines


def _result_line(r: CheckResult, width: int) -> str:
    """One input's line: its largest relative error, where, and the verdict."""
    where = f" at {list(r.index)}" if r.index else ""
    mark = "ok" if r.ok else "FAILED"
    if r.ok and r.error > TOLERANCE:
        mark += f" (within f's rounding noise there, {r.allowed - TOLERANCE:.1e})"
    detail = "" if r.ok else f" (analytic {r.analytic:.6g}, numeric {r.numeric:.6g})"
    return f"  {r.name.ljust(width)}  largest relative error {r.error:.1e}{where}  {mark}{detail}"


def _sampled_line(results: list[CheckResult]) -> str:
    """How much of the inputs a sampled check covered, and how to check them all."""
    checked = sum(r.checked for r in results)
    size = sum(r.size for r in results)
    parts = [f"{r.checked:,} of {r.size:,} elements of {r.name}"
             for r in results if 0 < r.checked < r.size]
    parts = parts[:3] + ([f"{len(parts) - 3:,} more inputs in part"] if len(parts) > 3 else [])
    skipped = sum(1 for r in results if not r.checked)
    if skipped:
        parts.append(f"{skipped:,} inputs not among them")
    return (f"checked {checked:,} of {size:,} elements, sampled with seed {SEED} "
            f"({', '.join(parts)}); --check-all checks every one")


@dataclass(frozen=True)
class CheckReport:
    """The gradient check of a trace (``t.check()``): ``ok``, and each input's error."""

    results: tuple[CheckResult, ...]
    lines: tuple[str, ...]

    @classmethod
    def of(cls, trace: Evaluation, limit: int | None = SAMPLE) -> CheckReport:
        results = check(trace, limit=limit)
        return cls(tuple(results), tuple(check_lines(trace, results)))

    @property
    def ok(self) -> bool:
        """Whether every input's largest relative error is within :data:`TOLERANCE`."""
        return all(r.ok for r in self.results)

    @property
    def errors(self) -> dict[str, float]:
        """Each input's largest relative error."""
        return {r.name: r.error for r in self.results}

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


@dataclass(frozen=True)
class Build:
    """The frames of a build (``t.steps()``): each frame's SVG and caption, and the page
    that steps through them, shown inline in a notebook."""

    frames: tuple[Frame, ...]
    svgs: tuple[str, ...]
    html: str
    trace: Evaluation | None = field(default=None, compare=False, repr=False)
    """What the frames are drawn from (for a notebook's images of them)."""

    @classmethod
    def of(cls, trace: Evaluation, style: Style | None = None, title: str | None = None) -> Build:
        made = frame_svgs(trace, style)
        svgs = tuple(svg for _, svg in made)
        captions = [frame.caption for frame, _ in made]
        text = page(title or trace.expression, trace.expression, svgs, captions,
                    theme=(style or Style()).theme, focus=[focus(frame) for frame, _ in made])
        return cls(tuple(frame for frame, _ in made), svgs, text, trace)

    @property
    def captions(self) -> list[str]:
        return [frame.caption for frame in self.frames]

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        lines = [f"{len(self.frames)} frames:"]
        lines += [f"  {k}. {caption}" for k, caption in enumerate(self.captions, 1)]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: object = None,
                          exclude: object = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stepping page where a notebook runs scripts, its first and last frames as
        images where it does not (see :func:`backviz.notebook.build_mimebundle`)."""
        from .notebook import build_mimebundle

        return build_mimebundle(self.html, self.captions, self.svgs[0], self._png)

    def _png(self, k: int, scale: float) -> bytes:
        """Frame k as PNG, at ``scale`` (see :attr:`Style.scale`)."""
        if self.trace is None:
            raise BackvizError("this build has no trace to draw its frames from")
        style = replace(self.frames[k].style, scale=scale)
        return render(to_dot(self.trace, style, "png"), "png", len(self.trace.graph.gates))
