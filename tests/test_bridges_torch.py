"""backviz.from_torch against the real PyTorch (CPU, float64): the gradients are autograd's
on every leaf, each module call is a box that collapses, and what cannot be drawn is told."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import backviz
from backviz.bridges.torch import record

ROOT = Path(__file__).resolve().parent.parent


class TwoLayer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 5)
        self.fc2 = torch.nn.Linear(5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.fixture
def model() -> TwoLayer:
    torch.manual_seed(3)
    return TwoLayer().double()


def batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, dtype=torch.float64, generator=g), torch.tensor([0, 3, 1, 2, 3, 0][:n])


def assert_autograds(t: backviz.Trace, leaves: dict[str, torch.Tensor]) -> None:
    """Every leaf's gradient equals what backward() left in its .grad, to 1e-12 relative."""
    for name, leaf in leaves.items():
        assert leaf.grad is not None, name
        theirs = leaf.grad.numpy()
        np.testing.assert_allclose(t.gradients[name], theirs, rtol=1e-12,
                                   atol=1e-12 * float(np.abs(theirs).max()), err_msg=name)


def test_an_mlp_with_cross_entropy_has_autograds_gradients_on_every_leaf(model: TwoLayer) -> None:
    x, y = batch()
    x.requires_grad_(True)
    loss = lambda x, y: F.cross_entropy(model(x), y)
    t = backviz.from_torch(loss, x, y)
    assert all(p.grad is None for p in model.parameters())  # backviz leaves .grad alone
    out = loss(x, y)
    out.backward()
    assert t.value == pytest.approx(out.item(), rel=1e-12)
    assert_autograds(t, {"x": x, **dict(model.named_parameters())})
    assert set(t.gradients) == {"x", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


def test_names_come_from_named_parameters_and_fns_parameters(model: TwoLayer) -> None:
    x, y = batch()
    t = backviz.from_torch(lambda inputs, labels: F.cross_entropy(model(inputs), labels), x, y)
    assert t.graph.variables == ("inputs", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                 "labels")
    assert "[arange(6), labels]" in {n.label for n in t.graph.gates}


def test_each_module_call_is_a_box_that_collapses_to_one_gate(model: TwoLayer) -> None:
    x, y = batch()
    t = backviz.from_torch(lambda x, y: F.cross_entropy(model(x), y), x, y)
    assert [g.name for g in t.graph.groups] == ["fc1", "fc2", "model"]
    dot = t.to_dot()
    assert 'label="fc1"' in dot and 'label="fc2"' in dot and 'label="model"' in dot
    small = t.collapse("fc1", "fc2")
    assert [n.label for n in small.graph.gates] == ["fc1", "relu", "fc2", "log_softmax",
                                                   "[arange(6), y]", "mean", "*-1"]
    assert small.value == t.value
    assert all(np.array_equal(small.gradients[n], g) for n, g in t.gradients.items())
    assert next(n.label for n in t.collapse("model").graph.gates) == "model"
    assert "fc1" in small.to_svg()


def test_tensors_that_need_no_gradient_are_given_data(model: TwoLayer) -> None:
    x, y = batch()
    recorder, result = record(lambda x, y: F.cross_entropy(model(x), y), (x, y), {})
    assert recorder.given_data() == frozenset({"x", "y"})
    assert isinstance(result, torch.Tensor)
    t = backviz.from_torch(lambda x, y: F.cross_entropy(model(x), y), x, y)
    assert t.graph.data == frozenset({"x", "y"})
    assert "x" not in t.gradients and "fc1.weight" in t.gradients
    assert '"data": true' in t.to_json()


def test_many_operations_have_autograds_gradients() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    c = torch.rand(4, 2, dtype=torch.float64, generator=g, requires_grad=True)

    def program(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(a * b - 1) / (2 + b.exp()) + a.sigmoid() ** 2
        s = torch.softmax(h @ (c + 0.5).sqrt(), dim=1).log() + (3 - a.T).abs().sum(0)[:2]
        m = torch.maximum(s, -s.mean()) * torch.sin(b)[1] - torch.cos(a)[1:, ::2].sum()
        return F.mse_loss(m, torch.zeros(3, 2, dtype=torch.float64)) + F.log_softmax(-b, 0)[2]

    t = backviz.from_torch(program, a, b, c)
    assert t.warnings == ()
    out = program(a, b, c)
    out.backward()
    assert t.value == pytest.approx(out.item(), rel=1e-12)
    assert_autograds(t, {"a": a, "b": b, "c": c})


def test_an_operation_without_a_gate_is_told_and_the_program_runs_on(model: TwoLayer) -> None:
    x, _ = batch()
    ran = []

    def program(x: torch.Tensor) -> torch.Tensor:
        out = torch.cumsum(model(x), dim=1).sum()
        ran.append(out.item())
        return out

    with pytest.warns(backviz.BridgeWarning, match=r"torch's cumsum is drawn as an input, "
                      r"cumsum_result, so no gradient flows back through it: backviz has no "
                      r"gate for it"):
        t = backviz.from_torch(program, x)
    assert ran and t.value == pytest.approx(ran[0], rel=1e-12)
    assert t.graph.variables == ("cumsum_result",)
    with pytest.warns(backviz.BridgeWarning, match=r"torch's sum .*keepdim=True"):
        backviz.from_torch(lambda x: model(x).sum(1, keepdim=True).mean(), x)


def test_a_result_that_is_not_drawn_is_one_clear_error() -> None:
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(backviz.BackvizError, match="it returned a tensor that no operation made"):
        backviz.from_torch(lambda: w)
    with pytest.raises(backviz.BackvizError, match="from_torch needs fn to return a tensor "
                       "computed from tensors that need a gradient, and it returned a tensor "
                       r"of shape \(2,\) that needs no gradient"):
        backviz.from_torch(lambda: torch.ones(2))


def test_teaching_mode_and_json_work_on_a_bridged_trace(model: TwoLayer) -> None:
    x, y = batch(2)
    t = backviz.from_torch(lambda x, y: F.cross_entropy(model(x), y), x, y).collapse("fc1")
    assert any(line.split()[:1] == ["fc1"] for line in t.explain().splitlines())
    assert len(t.steps().frames) == len(t.graph.gates) + 2
    data = json.loads(t.to_json())
    assert data["value"] == pytest.approx(t.value) and data["expression"] == t.expression
    assert "fc1" in t.steps()._repr_mimebundle_()[0]["text/html"]  # as a notebook shows it
    shown, _ = t._repr_mimebundle_()
    assert "<svg" in shown["image/svg+xml"] and "image/png" in shown


SAME = """
import sys
sys.path.insert(0, {examples!r})
import bridges
for t in (*bridges.torch_mlp(), *bridges.torch_cnn()):
    print(t.to_dot())
"""


def test_the_same_program_gives_the_same_bytes_in_two_processes() -> None:
    code = SAME.format(examples=str(ROOT / "examples"))
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
            for seed in ("1", "2")]
    assert runs[0] == runs[1] and b"fc1.weight" in runs[0] and b"conv.weight" in runs[0]


def test_a_plain_import_of_backviz_and_the_command_import_no_torch() -> None:
    code = ("import sys, backviz; backviz.trace('x*y', x=1, y=2); "
            "from backviz import cli; assert 'torch' not in sys.modules, 'torch'; "
            "assert 'micrograd' not in sys.modules; backviz.from_micrograd; "
            "assert 'torch' not in sys.modules; backviz.from_torch; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


class SmallCNN(torch.nn.Module):
    """A first course's small CNN: conv, relu, 2x2 max pool, flatten, a linear layer."""

    def __init__(self, stride: int = 1, padding: int = 0, pool: str = "max") -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, stride=stride, padding=padding)
        self.pool = F.max_pool2d if pool == "max" else F.avg_pool2d
        side = (8 + 2 * padding - 3) // stride + 1
        self.fc = torch.nn.Linear(2 * (side // 2) ** 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x)), 2), 1))


@pytest.mark.parametrize(("options", "n"), [({}, 1), ({"stride": 2, "padding": 1}, 2),
                                            ({"pool": "avg"}, 3)])
def test_a_small_cnn_has_autograds_gradients_on_every_leaf(options: dict[str, object],
                                                           n: int) -> None:
    torch.manual_seed(4)
    model = SmallCNN(**options).double()  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(6)
    x = torch.randn(n, 1, 8, 8, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.tensor([2, 0, 1][:n])
    loss = lambda x, y: F.cross_entropy(model(x), y)
    t = backviz.from_torch(loss, x, y)
    assert t.warnings == ()
    out = loss(x, y)
    out.backward()
    assert t.value == pytest.approx(out.item(), rel=1e-12)
    assert_autograds(t, {"x": x, **dict(model.named_parameters())})
    assert {"conv.weight", "conv.bias", "fc.weight", "fc.bias", "x"} == set(t.gradients)


def test_a_small_cnns_modules_collapse_and_its_gates_are_the_table_s() -> None:
    torch.manual_seed(4)
    model = SmallCNN().double()
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    t = backviz.from_torch(lambda x, y: F.cross_entropy(model(x), y), x, torch.tensor([1]))
    assert [n.op for n in t.graph.gates][:5] == ["conv2d", "reshape", "add", "relu", "max_pool2d"]
    # The program as written for the teaching mode names the gates' operands as torch does.
    assert t.expression.splitlines()[:2] == ["t2 = conv2d(x, conv.weight)",
                                             "t4 = conv.bias.reshape(-1,1,1)"]
    assert "max_pool2d(t6)" in t.expression and "conv(x, conv.weight" in t.explain()
    small = t.collapse("conv", "fc")
    assert [n.label for n in small.graph.gates] == ["conv", "relu", "max_pool 2", "reshape(1,-1)",
                                                    "fc", "log_softmax", "[arange(1), y]", "mean",
                                                    "*-1"]
    assert all(np.array_equal(small.gradients[k], v) for k, v in t.gradients.items())


def test_max_pool_sends_a_tie_to_the_first_largest_element_as_torch_does() -> None:
    x = torch.tensor([[[[1.0, 3.0], [3.0, 0.0]]]], dtype=torch.float64, requires_grad=True)
    t = backviz.from_torch(lambda x: (F.max_pool2d(x, 2) * 2).sum(), x)
    (F.max_pool2d(x, 2) * 2).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(t.gradients["x"], x.grad.numpy())
    np.testing.assert_array_equal(t.gradients["x"], [[[[0.0, 2.0], [0.0, 0.0]]]])


def test_what_the_cnn_gates_do_not_draw_is_told() -> None:
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    with pytest.warns(backviz.BridgeWarning, match=r"torch's conv2d .* without dilation"):
        backviz.from_torch(lambda x, w: F.conv2d(x, w, dilation=2).sum(), x, w)
    with pytest.warns(backviz.BridgeWarning, match=r"torch's max_pool2d .* without padding"):
        backviz.from_torch(lambda x: F.max_pool2d(x, 2, padding=1).sum(), x)
    with pytest.warns(backviz.BridgeWarning, match=r"the same stride along both axes"):
        backviz.from_torch(lambda x, w: F.conv2d(x, w, stride=(1, 2)).sum(), x, w)


def test_a_losss_older_reduction_arguments_are_told_not_ignored() -> None:
    """reduce=False asks for no reduction at all: drawn as a mean, the figure would be wrong."""
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, 1])
    z = torch.randn(3, 4, dtype=torch.float64)
    told = r"torch's (cross_entropy|mse_loss) is drawn as an input.*not the older size_average= or reduce="
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own: the arguments are deprecated
        with pytest.warns(backviz.BridgeWarning, match=told):
            t = backviz.from_torch(lambda x: F.cross_entropy(x, y, reduce=False).sum(), x)
        assert "x" not in t.gradients  # no gradient flows back through the loss drawn as an input
        with pytest.warns(backviz.BridgeWarning, match=told):
            backviz.from_torch(lambda x: F.mse_loss(x, z, size_average=False), x)


def test_view_reshape_and_an_image_without_a_batch_have_autograds_gradients() -> None:
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 7, 7, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 2, 2, 2, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=g, requires_grad=True)
    v = torch.randn(27, dtype=torch.float64, generator=g, requires_grad=True)

    def program(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(torch.tanh(F.conv2d(x, w, b, stride=2, padding="valid")), 1)
        pooled = F.max_pool2d(h, 3, stride=1, padding=0)
        return (h.view(-1) @ v) + (h.reshape((3, 9)) ** 2).sum() * pooled.flatten().sum()

    t = backviz.from_torch(program, x, w, b, v)
    assert t.warnings == ()
    out = program(x, w, b, v)
    out.backward()
    assert t.value == pytest.approx(out.item(), rel=1e-12)
    assert_autograds(t, {"x": x, "w": w, "b": b, "v": v})
    assert {n.label for n in t.graph.gates} >= {"conv2d s=2", "avg_pool 1", "max_pool 3 s=1",
                                                "reshape(-1)", "reshape(3,9)"}
