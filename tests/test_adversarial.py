"""What an adversarial pass over the whole tool found, each case kept as a test.

Hostile text in the TikZ and Beamer output, odd values through the engine, fake dots
and signals for the newer formats, and the bridges with inputs nobody meant: each test
failed before its fix.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import backviz

HERE = Path(__file__).resolve().parent


def _pdflatex(folder: Path, name: str) -> str:
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    return subprocess.run(["pdftotext", str(folder / Path(name).with_suffix(".pdf")), "-"],
                          capture_output=True, text=True, check=True).stdout


def test_control_characters_in_a_title_and_caption_compile(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """TOML lets a title hold NUL, DEL or a lone carriage return; pdflatex stops at an
    invalid character, so each is written as a space."""
    (tmp_path / "odd.toml").write_text(
        'title = "Top\\u0000line\\u007fhere\\rnow"\nexpression = "x*y"\n'
        'caption = "one\\u0001two\\n\\nthree\\u000bfour"\n[values]\nx = 2\ny = 3\n')
    result = run("odd.toml", "-f", "tex", "-o", "odd.tex")
    assert result.exit_code == 0, result.output
    words = _pdflatex(tmp_path, "odd.tex").split()
    assert {"one", "two", "three", "four", "6"} <= set(words)
    result = run("odd.toml", "--steps", "-f", "tex", "-o", "steps.tex")
    assert result.exit_code == 0, result.output
    words = _pdflatex(tmp_path, "steps.tex").split()
    assert {"Top", "line", "here", "now", "6"} <= set(words)  # the Beamer frame's title


def test_a_control_character_in_a_program_is_refused_with_a_caret(run) -> None:  # type: ignore[no-untyped-def]
    """A NUL or ESC in a comment, or a form feed between tokens, reached the SVG's title, and
    dot's refusal of the XML was blamed on the Graphviz install."""
    for text in ["f = x*y # a\x01b", "f = x*\x0cy", "f = x*y\x1b"]:
        result = run(text, "--x", "1", "--y", "2", "-o", "f.svg")
        assert result.exit_code == 2, result.output
        assert "unexpected character" in result.output and "Graphviz" not in result.output
        assert "^" in result.output and not Path("f.svg").exists()
    assert run("f = x*y # a comment\r\ng = f", "--x", "1", "--y", "2").exit_code == 0


def test_an_index_too_large_for_an_integer_says_so() -> None:
    """1e300 is a whole number, but cast to an index it wrapped round to -2**63, and the
    message spoke of an index the user never gave."""
    for y in (1e300, [0, -1e19]):
        try:
            backviz.trace("m = W*1\nm[y] = 0\nf = sum(m*m)", W=[[1.0, 2.0], [3.0, 4.0]], y=y)
        except backviz.BackvizError as err:
            assert "too large to be an index" in str(err) and "922337" not in str(err)
        else:
            raise AssertionError("an index of 1e300 was accepted")


def _torch_trace(fn, *args):  # type: ignore[no-untyped-def]
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = backviz.from_torch(fn, *args)
    return t, [str(w.message) for w in caught]


def test_from_torch_a_boolean_mask_is_not_read_as_indexes() -> None:
    """x[x > 0] took the mask [True, False] for the indexes [1, 0]: the sum came out 0, not 1."""
    import torch

    x = torch.tensor([1.0, -1.0, 2.5], dtype=torch.float64, requires_grad=True)
    t, said = _torch_trace(lambda x: x[x > 0].sum(), x)
    assert t.value == 3.5 == x[x > 0].sum().item()
    assert any("is drawn as an input" in s for s in said)


def test_from_torch_an_index_assignment_is_not_lost() -> None:
    """m[y] = 5 changes m in place and returns None: its gate kept showing m's old values."""
    import torch

    def assign(x):  # type: ignore[no-untyped-def]
        m = x * 2
        m[torch.tensor([0, 0])] = 5.0
        m[1:].mul_(3)  # through a view: m's values change too
        return (m * x).sum()

    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    t, said = _torch_trace(assign, x)
    assert t.value == assign(x).item() == 5 + 12 * 2 + 18 * 3
    assert any("in place" in s for s in said)


def test_a_bridged_function_that_raises_is_a_backviz_error_naming_it() -> None:
    """A function that raises, or arguments it does not take, came out of the bridges as
    the bare exception; from_torch(tensor) as "'Tensor' object is not callable"."""
    import torch
    from micrograd.engine import Value

    def broken(x):  # type: ignore[no-untyped-def]
        return x / 0 if isinstance(x, float) else x * {}

    cases = [(backviz.from_micrograd, broken, (Value(1.0),), "broken raised TypeError"),
             (backviz.from_micrograd, lambda x: x * 2, (Value(1.0), Value(2.0)),
              "<lambda> raised TypeError"),
             (backviz.from_torch, broken, (torch.ones(2, requires_grad=True),),
              "broken raised TypeError"),
             (backviz.from_torch, torch.ones(2), (), "takes a function")]
    for bridge, fn, args, said in cases:
        try:
            bridge(fn, *args)
        except backviz.BackvizError as err:
            assert said in str(err), str(err)
            assert fn is not broken or isinstance(err.__cause__, TypeError)  # kept as the cause
        else:
            raise AssertionError(f"{bridge.__name__}({fn!r}) did not raise")
