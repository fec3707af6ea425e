"""The figures of docs/bridges.md: micrograd Values and a PyTorch program, drawn by backviz.

Run from the clone: ``.venv/bin/python examples/bridges.py`` writes them into output/
(``--png`` writes PNGs beside them, to look at). tests/test_bridges_micrograd.py checks that
output/ is what this draws, and that docs/bridges.md shows this code.
"""

import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from micrograd.nn import MLP
from micrograd_lecture import Value

import backviz


def lecture_L():
    a = Value(2.0, label="a"); b = Value(-3.0, label="b"); c = Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f; L.label = "L"
    return backviz.from_micrograd(L)


def lecture_neuron():
    x1 = Value(2.0, label="x1"); x2 = Value(0.0, label="x2")
    w1 = Value(-3.0, label="w1"); w2 = Value(1.0, label="w2"); b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b; n.label = "n"
    o = n.tanh(); o.label = "o"
    return backviz.from_micrograd(o)


def micrograd_mlp():
    random.seed(1337)
    model = MLP(2, [3, 1])
    loss = lambda x, y: (model(x) - y) ** 2
    t = backviz.from_micrograd(loss, [2.0, -1.0], 1.0)
    return t.collapse("Neuron")


class TwoLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 4)
        self.fc2 = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def torch_mlp():
    torch.manual_seed(0)
    model = TwoLayer().double()
    X = torch.randn(4, 3, dtype=torch.float64); y = torch.tensor([0, 2, 1, 0])
    loss = lambda x, y: F.cross_entropy(model(x), y)
    t = backviz.from_torch(loss, X, y)
    return t, t.collapse("fc1", "fc2")


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.fc = torch.nn.Linear(18, 3)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(h, 1))


def torch_cnn():
    torch.manual_seed(0)
    model = SmallCNN().double()
    image = torch.randn(1, 1, 8, 8, dtype=torch.float64); label = torch.tensor([2])
    loss = lambda x, y: F.cross_entropy(model(x), y)
    t = backviz.from_torch(loss, image, label)
    return t, t.collapse("conv", "fc")


def figures():
    """Each figure's file name and trace."""
    expanded, collapsed = torch_mlp()
    return {"bridge_lecture_L": lecture_L(), "bridge_lecture_neuron": lecture_neuron(),
            "bridge_micrograd_mlp": micrograd_mlp(), "bridge_torch_mlp": expanded,
            "bridge_torch_mlp_collapsed": collapsed,
            "bridge_torch_cnn_collapsed": torch_cnn()[1]}


def main(argv):
    out = Path(__file__).resolve().parent.parent / "output"
    for name, trace in figures().items():
        trace.save(out / f"{name}.svg")
        if "--png" in argv:
            trace.save(out / f"{name}.png")
        print(f"wrote output/{name}.svg")


if __name__ == "__main__":
    main(sys.argv[1:])
