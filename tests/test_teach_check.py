"""--check is bounded, honest about what it checked, and passes right gradients anywhere.

Each test is named after the promise it keeps (docs/teaching.md, "--check").
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from click.testing import CliRunner

import backviz
from backviz.cli import cli, pipeline
from backviz.teach import SAMPLE, check, check_lines


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="backviz")
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("expression", "x"), [("sigmoid(x-500)", "500"), ("sin(x)", "1000"),
                                               ("exp(x)", "700"), ("x*x*x", "1e6")])
def test_right_gradients_pass_far_from_zero(expression: str, x: str) -> None:
    code, out, _ = run(expression, "--x", x, "--check")
    assert code == 0, out
    assert out.splitlines()[1].endswith("ok")


def test_a_wrong_gradient_still_fails_far_from_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    op = backviz.OPS["sin"]
    monkeypatch.setitem(backviz.OPS, "sin", op.__class__(**{
        **{f: getattr(op, f) for f in op.__dataclass_fields__},
        "vjp": lambda g, out, x: (g * np.cos(x) * (1 + 1e-5),)}))
    code, out, _ = run("sin(x)", "--x", "1000", "--check")
    assert code == 1 and "FAILED" in out


def test_the_header_says_the_step_it_uses() -> None:
    _, out, _ = run("x*y", "--x", "300", "--y", "2", "--check")
    assert out.splitlines()[0] == ("gradient check of x*y: central differences, "
                                   "step 1e-05 max(1, |x|), tolerance 1e-06")


def _big() -> backviz.Trace:
    rng = np.random.default_rng(3)
    return backviz.trace("sum(tanh(W@x))", W=rng.standard_normal((60, 50)),
                         x=rng.standard_normal(50))


def test_above_the_bound_a_seeded_sample_is_checked_and_reported() -> None:
    t = _big()
    results = check(t)
    assert sum(r.checked for r in results) == SAMPLE == 1000
    assert {r.name: (r.checked, r.size) for r in results} == {"W": (950, 3000), "x": (50, 50)}
    report = check_lines(t, results)
    assert report[-1] == ("checked 1,000 of 3,050 elements, sampled with seed 0 "
                          "(950 of 3,000 elements of W); --check-all checks every one")
    assert check(t) == results  # the same elements, every time


def test_check_all_checks_every_element() -> None:
    t = _big()
    results = check(t, limit=None)
    assert [(r.checked, r.size) for r in results] == [(3000, 3000), (50, 50)]
    assert not check_lines(t, results)[-1].startswith("checked")
    report = t.check(all_elements=True)
    assert report.ok and [r.checked for r in report.results] == [3000, 50]


def test_the_command_samples_unless_check_all(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    np.save("W.npy", np.arange(1200.0).reshape(30, 40) / 1200)
    code, out, _ = run("sum(W*W)", "--W", "@W.npy", "--check")
    assert code == 0 and out.splitlines()[-1].startswith("checked 1,000 of 1,200 elements")
    code, out, _ = run("sum(W*W)", "--W", "@W.npy", "--check-all")
    assert code == 0 and "checked" not in out and out.startswith("gradient check of sum(W*W)")


def test_progress_goes_to_stderr_once_a_check_takes_more_than_a_second(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clock = itertools.count(0.0, 0.75)  # every look at the clock: 0.75 s later
    monkeypatch.setattr(pipeline.time, "monotonic", lambda: next(clock))
    code, out, err = run("sum(x*x)", "--x", str(list(range(1, 31))), "--check")
    assert code == 0
    assert "checking gradients:" not in out
    lines = err.splitlines()
    assert lines and all(line.startswith("checking gradients: ") and line.endswith(" s)")
                         for line in lines)
    assert "of 30 elements" in lines[0]


def test_a_quick_check_shows_no_progress() -> None:
    code, _, err = run("x*y", "--x", "1", "--y", "2", "--check")
    assert code == 0 and err == ""


def test_with_o_dash_the_words_go_to_stderr_and_stdout_is_the_figure(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    code, out, err = run("(x+y)*z", "--x", "-2", "--y", "5", "--z", "-4", "-o", "-", "-f",
                         "json", "--check", "--explain")
    assert code == 0
    assert backviz.trace("(x+y)*z", x=-2, y=5, z=-4).to_json().strip() == out.strip()
    assert "gradient check of" in err and "backward pass of" in err
