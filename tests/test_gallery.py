"""The gallery: expression files, output/ in step with the code, and snapshots of DOT and SVG.

Snapshots live in tests/snapshots/: the DOT of every gallery file (compared exactly)
and its SVG, normalised (compared byte for byte when the installed Graphviz is the
version in tests/snapshots/GRAPHVIZ_VERSION). Regenerate them on purpose with
``./scripts/test --update-snapshots``; regenerate output/ with ``backviz expressions/``.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import svggeom
from click.testing import CliRunner

import backviz
from backviz.cli import cli
from backviz.gallery import find, load
from backviz.render import THEMES, Style, to_bytes

ROOT = Path(__file__).resolve().parent.parent
EXPRESSIONS = ROOT / "expressions"
OUTPUT = ROOT / "output"
SNAPSHOTS = Path(__file__).parent / "snapshots"
FILES = find(EXPRESSIONS)
NAMES = [p.stem for p in FILES]


def graphviz_version() -> str:
    done = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=True)
    return re.search(r"version (\S+)", done.stderr).group(1)  # type: ignore[union-attr]


SNAPSHOT_VERSION_FILE = SNAPSHOTS / "GRAPHVIZ_VERSION"


def render(path: Path, fmt: str) -> bytes:
    figure = load(path)
    style = Style(caption=figure.caption, theme=THEMES[figure.theme or "slides"])
    if figure.precision is not None:
        style = replace(style, precision=figure.precision, integers=False)
    t = backviz.trace(figure.graph or figure.expression, figure.values).collapse(*figure.collapse)
    return to_bytes(t, fmt, style)


def normalise(svg: str) -> str:
    """Drop comments (they carry Graphviz's version); round coordinates to 1 place.

    Only numbers inside tags are rounded: the figure's own texts stay as they are.
    """
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)
    rounded = lambda m: f"{float(m.group()):.1f}"
    return re.sub(r"<[^>]*>", lambda tag: re.sub(r"-?\d+\.\d+", rounded, tag.group()), svg)


def structure(svg: str) -> dict[str, object]:
    """What holds across Graphviz versions: nodes, edges, texts with colours and sides."""
    fig = svggeom.read(svg)
    sides = []
    for t in fig.texts:
        rule = fig.rules.get(t.node)
        side = "-" if not rule else ("above" if t.box.y1 <= rule[0][2] + 0.5 else "below")
        sides.append((t.node, t.text, t.color, side))
    return {"nodes": sorted({t.node for t in fig.texts} | set(fig.rules)),
            "edges": sorted(title for title, _ in fig.edges),
            "texts": sorted(sides)}


def compare_svg(fresh: str, stored: str, what: str) -> None:
    """Bytes when this Graphviz made the stored file; else structure, said out loud."""
    version = graphviz_version()
    made_with = SNAPSHOT_VERSION_FILE.read_text().strip()
    if version == made_with:
        assert normalise(fresh) == normalise(stored), f"{what} differs"
        return
    warnings.warn(f"{what}: Graphviz {version} is installed but the snapshots were made with "
                  f"{made_with}, so the SVG bytes could not be compared; compared nodes, edges, "
                  "texts, colours and sides instead", stacklevel=2)
    assert structure(fresh) == structure(stored), f"{what} differs in structure"
    assert svggeom.problems(svggeom.read(fresh)) == []


def test_the_gallery_has_the_five_slides_and_more() -> None:
    assert {"add_mul", "sigmoid_neuron", "sigmoid_gate", "gate_patterns",
            "vectorized_l2"} <= set(NAMES)
    assert len(NAMES) >= 10


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_every_file_renders_cleanly(path: Path) -> None:
    figure = load(path)
    assert figure.title and figure.caption
    t = backviz.trace(figure.expression, figure.values)
    assert t.warnings == ()
    fig = svggeom.read(render(path, "svg").decode())
    assert svggeom.problems(fig) == []
    assert render(path, "svg") == render(path, "svg")  # deterministic bytes


def stored(name: str, fresh: str, update: bool) -> str:
    """The snapshot tests/snapshots/NAME; with --update-snapshots, first written as fresh."""
    snap = SNAPSHOTS / name
    if update:
        SNAPSHOTS.mkdir(exist_ok=True)
        snap.write_text(fresh)
    assert snap.exists(), f"no snapshot {snap}: run ./scripts/test --update-snapshots"
    return snap.read_text()


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_dot_snapshot(path: Path, update_snapshots: bool) -> None:
    dot = render(path, "dot").decode()
    assert dot == stored(f"{path.stem}.dot", dot, update_snapshots)


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_svg_snapshot(path: Path, update_snapshots: bool) -> None:
    svg = render(path, "svg").decode()
    if update_snapshots:
        SNAPSHOT_VERSION_FILE.write_text(graphviz_version() + "\n")
    compare_svg(svg, stored(f"{path.stem}.svg", normalise(svg), update_snapshots),
                f"the SVG of {path.name}")


def test_no_stale_snapshots() -> None:
    names = {p.stem for p in SNAPSHOTS.glob("*.dot")} | {p.stem for p in SNAPSHOTS.glob("*.svg")}
    assert names == set(NAMES)


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_output_is_what_the_code_renders(path: Path) -> None:
    published = OUTPUT / f"{path.stem}.svg"
    assert published.exists(), f"{published} is missing: run backviz expressions/"
    compare_svg(render(path, "svg").decode(), published.read_text(),
                f"{published.relative_to(ROOT)} (regenerate with: backviz expressions/)")


def test_output_holds_only_the_gallery() -> None:
    tracked = subprocess.run(["git", "ls-files", "output"], capture_output=True, text=True,
                             cwd=ROOT, check=True).stdout.split()
    # .gitignore leaves out what commands write into output/: a new figure needs git add -f.
    # output/bridge_*.svg are examples/bridges.py's, held in step by test_bridges_micrograd.py.
    gallery = [path for path in tracked if not path.startswith("output/bridge_")]
    assert sorted(gallery) == sorted(f"output/{n}.svg" for n in NAMES), \
        "output/ tracks exactly the gallery's figures (a new one: git add -f output/NAME.svg)"


def test_the_folder_command_renders_every_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [str(EXPRESSIONS)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == sorted(f"{n}.svg" for n in NAMES)
    for name in NAMES:
        assert (tmp_path / "output" / f"{name}.svg").read_bytes() == \
            render(EXPRESSIONS / f"{name}.toml", "svg")


def test_one_file_takes_every_option(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [str(EXPRESSIONS / "add_mul.toml"), "--x", "1",
                                      "-o", "-", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"value": -24.0' in result.stdout  # --x 1 overrides the file's x: (1+5)*(-4)
    assert result.stderr.startswith("(x+y)*z = -24\n")


BROKEN = {
    "syntax.toml": ('title = "t"\nexpression = "(x+"\n[values]\nx = 1\n',
                    "syntax.toml: field 'expression': the expression ends too early"),
    "missing.toml": ('title = "t"\nexpression = "x*y"\n[values]\nx = 1\n',
                     "missing.toml: field 'values': no value for y"),
    "badtoml.toml": ('title = "t\n', "badtoml.toml: not valid TOML"),
    "notitle.toml": ('expression = "x"\n', "notitle.toml: the field 'title' is missing"),
    "extra.toml": ('title = "t"\nexpression = "x"\ncolour = 1\n',
                   "extra.toml: unknown field 'colour'"),
    "precision.toml": ('title = "t"\nexpression = "x"\nprecision = "2"\n[values]\nx = 1\n',
                       "precision.toml: the field 'precision' must be a whole number from 0 to 12"),
    "value.toml": ('title = "t"\nexpression = "x*2"\n[values]\nx = "one"\n',
                   "value.toml: field 'values': the value of x must be a number"),
}


def test_a_broken_file_is_reported_and_the_others_still_render(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "expressions"
    folder.mkdir()
    (folder / "good.toml").write_text('title = "t"\nexpression = "x*y"\n[values]\nx = 2\ny = 3\n')
    for name, (text, _) in BROKEN.items():
        (folder / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["expressions"])
    assert result.exit_code == 2
    for name, (_, message) in BROKEN.items():
        assert f"Error: expressions/{message}" in result.stderr, name
    assert result.stderr.endswith(f"Error: {len(BROKEN)} of {len(BROKEN) + 1} expression files "
                                  "failed (see above)\n")
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == ["good.svg"]


def test_other_graphviz_versions_compare_structure_and_say_so() -> None:
    path = EXPRESSIONS / "sigmoid_neuron.toml"
    fresh = render(path, "svg").decode()
    stored = (SNAPSHOTS / "sigmoid_neuron.svg").read_text()
    real = globals()["graphviz_version"]
    globals()["graphviz_version"] = lambda: "0.0-other"
    try:
        with pytest.warns(UserWarning, match="the SVG bytes could not be compared"):
            compare_svg(fresh, stored, "sigmoid_neuron")
        tampered = stored.replace(">0.73<", ">0.74<")
        with pytest.warns(UserWarning), pytest.raises(AssertionError, match="structure"):
            compare_svg(fresh, tampered, "sigmoid_neuron")
    finally:
        globals()["graphviz_version"] = real


def test_a_folder_is_drawn_in_parallel_and_written_in_order(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The files of a folder are drawn at once (one per core) and its output is, byte for
    byte and line for line, that of drawing them one after another."""
    folder = tmp_path / "expressions"
    folder.mkdir()
    for path in FILES[:4]:
        (folder / path.name).write_text(path.read_text())
    (folder / "b_broken.toml").write_text(BROKEN["missing.toml"][0])
    monkeypatch.chdir(tmp_path)
    serial = []
    for path in sorted(folder.glob("*.toml")):
        result = CliRunner().invoke(cli, [str(path.relative_to(tmp_path))])
        serial.append(result.output if result.exit_code == 0 else
                       f"Error: {result.output.splitlines()[0].removeprefix('Error: ')}\n")
    files = {p.name: p.read_bytes() for p in (tmp_path / "output").iterdir()}
    (tmp_path / "output").rename(tmp_path / "serial")

    at_once, most = 0, 0
    lock = threading.Lock()
    draw = backviz.cli.pipeline.to_bytes

    def slow_draw(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal at_once, most
        with lock:
            at_once += 1
            most = max(most, at_once)
        time.sleep(0.2)
        with lock:
            at_once -= 1
        return draw(*args, **kwargs)

    monkeypatch.setattr(backviz.cli.pipeline, "to_bytes", slow_draw)
    monkeypatch.setattr(backviz.cli.pipeline.os, "cpu_count", lambda: 3)
    result = CliRunner().invoke(cli, ["expressions"])
    assert result.exit_code == 2
    heads = [f"expressions/{p.name}:\n" for p in sorted(folder.glob("*.toml"))]
    expected = "".join(("" if text.startswith("Error") else head) + text
                       for head, text in zip(heads, serial, strict=True))
    assert result.output == expected + "Error: 1 of 5 expression files failed (see above)\n"
    assert {p.name: p.read_bytes() for p in (tmp_path / "output").iterdir()} == files
    assert most == 3


def test_load_lists_every_problem_and_skips_the_values_given_elsewhere(tmp_path: Path) -> None:
    from backviz.errors import GalleryFileError

    path = tmp_path / "bad.toml"
    path.write_text('title = "t"\nexpression = "x*y"\ncollapse = "sig"\nprecision = 99\n'
                    '[values]\nx = [1, [2]]\n')
    with pytest.raises(GalleryFileError) as err:
        load(path)
    assert str(err.value).count(";") == 3
    for problem in ("the field 'precision' must be", "the field 'collapse' must be",
                    "the value of x must be", "no value for y"):
        assert problem in str(err.value)
    path.write_text('title = "t"\nexpression = "x*y"\n[values]\nx = "one"\n')
    assert load(path, given={"x", "y"}).graph is not None  # --x and --y replace them


def test_a_value_the_expression_does_not_use_is_not_checked(tmp_path: Path) -> None:
    path = tmp_path / "unused.toml"
    path.write_text('title = "t"\nexpression = "x*2"\n[values]\nx = 1\nnote = "any"\n')
    assert load(path).values == {"x": 1, "note": "any"}
