"""The five reference figures of SLIDES.md: expression, values, and every number shown."""

from __future__ import annotations

from typing import Any

SIGMOID_VALUES = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}

# name -> (expression, values, {edge helper node: (green text, red text)})
# Edge helper nodes are named e<gate id>_<input position>; "out" is the output stub.
FIGURES: dict[str, tuple[str, dict[str, Any], dict[str, tuple[str, str]]]] = {
    "fig1": ("(x+y)*z", {"x": -2, "y": 5, "z": -4}, {
        "e2_0": ("-2", "-4"), "e2_1": ("5", "-4"),          # x, y into +
        "e4_0": ("3", "-4"), "e4_1": ("-4", "3"),           # q, z into *
        "out": ("-12", "1"),
    }),
    "fig2": ("1/(1+exp(-(w0*x0+w1*x1+w2)))", SIGMOID_VALUES, {
        "e2_0": ("2.00", "-0.20"), "e2_1": ("-1.00", "0.39"),    # w0, x0
        "e5_0": ("-3.00", "-0.39"), "e5_1": ("-2.00", "-0.59"),  # w1, x1
        "e6_0": ("-2.00", "0.20"), "e6_1": ("6.00", "0.20"),     # w0*x0, w1*x1
        "e8_0": ("4.00", "0.20"), "e8_1": ("-3.00", "0.20"),     # first +, w2
        "e9_0": ("1.00", "0.20"),                                # second + into *-1
        "e10_0": ("-1.00", "-0.20"),                             # *-1 into exp
        "e11_0": ("0.37", "-0.53"),                              # exp into +1
        "e12_0": ("1.37", "-0.53"),                              # +1 into 1/x
        "out": ("0.73", "1.00"),
    }),
    "fig3": ("sigmoid(w0*x0+w1*x1+w2)", SIGMOID_VALUES, {
        "e2_0": ("2.00", "-0.20"), "e2_1": ("-1.00", "0.39"),
        "e5_0": ("-3.00", "-0.39"), "e5_1": ("-2.00", "-0.59"),
        "e6_0": ("-2.00", "0.20"), "e6_1": ("6.00", "0.20"),
        "e8_0": ("4.00", "0.20"), "e8_1": ("-3.00", "0.20"),
        "e9_0": ("1.00", "0.20"),                                # into the sigmoid gate
        "out": ("0.73", "1.00"),
    }),
    "fig4": ("2*(x*y+max(z,w))", {"x": 3, "y": -4, "z": 2, "w": -1}, {
        "e2_0": ("3.00", "-8.00"), "e2_1": ("-4.00", "6.00"),    # x, y into *
        "e5_0": ("2.00", "2.00"), "e5_1": ("-1.00", "0.00"),     # z, w into max
        "e6_0": ("-12.00", "2.00"), "e6_1": ("2.00", "2.00"),    # into +
        "e7_0": ("-10.00", "2.00"),                              # into *2
        "out": ("-20.00", "1.00"),
    }),
}

FIG5 = ("l2(W@x)", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]})
