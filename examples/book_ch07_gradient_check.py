"""The book's ch07/gradient_check.py with minifw: the convolutional network's backprop checked.

    python examples/book_ch07_gradient_check.py

The book builds a small `SimpleConvNet` (one 10x10 image, 10 filters of 3x3, 10 hidden units),
feeds it one random image with the label 1, and prints the mean absolute difference between its
numerical gradient and backprop for every parameter. The same constructor call works in minifw
(plus `seed=`; the image may be given as `(1, 1, 10, 10)` or as a row of 100 values). This
script prints the book's comparison and minifw's gradcheck, twice:

1. With the book's step h = 1e-4. The filters start at 0.01 times normal draws, so the
   convolution's outputs are small and some lie closer to ReLU's kink than a step of a filter
   weight moves them: the central difference there straddles the kink, and gradcheck names that
   filter entry (the book's mean difference of `W1` is larger than the others' for the same
   reason).
2. With h = 1e-6. The book's loop would lose its digits to rounding at such a step; minifw's
   numerical gradients are computed from changes, without that cancellation, so the smaller step
   stays precise and no longer reaches the kink: the check passes.

Offline; exits with status 1 unless part 2 passes.
"""

from __future__ import annotations

import sys

import numpy as np

from minifw import CentralDiff, CrossEntropy, GradcheckReport, SimpleConvNet, gradcheck


def check(h: float) -> GradcheckReport:
    """Print the book's comparison and minifw's gradcheck with central differences of step `h`."""
    network = SimpleConvNet(
        input_dim=(1, 10, 10),
        conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
        hidden_size=10,
        output_size=10,
        weight_init_std=0.01,
        seed=0,
    )
    x = np.random.default_rng(0).random(100).reshape((1, 1, 10, 10))
    t = np.array([1])
    report = gradcheck(network, x, t, CrossEntropy(), CentralDiff(h=h))
    print("The book's comparison: mean |numerical - backprop| per parameter")
    print(report.book_lines())
    print("\nminifw's gradcheck of the same gradients")
    print(report, end="\n\n")
    return report


def main() -> int:
    print("1. The book's step, h = 1e-4\n")
    check(1e-4)
    print("2. h = 1e-6\n")
    passed = check(1e-6).passed
    print("every check came out as expected" if passed else "UNEXPECTED RESULT")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
