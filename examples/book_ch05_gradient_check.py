"""The book's ch05/gradient_check.py with minifw: backprop against numerical gradients.

    python examples/book_ch05_gradient_check.py

The book checks its two-layer ReLU network of chapter 5 (784-50-10, weights 0.01 times standard
normal draws) on the first three training images: it prints, per parameter, the mean absolute
difference between backprop and its per-coordinate numerical gradient (h = 1e-4). This script
prints that comparison, then minifw's gradcheck of the same two gradients (central differences
with h = 1e-4: the book's finite differences, computed in well under a second instead of about a
minute). minifw's backprop keeps the 1e-7 inside the cross-entropy's log, which the book's
backward pass drops (docs/porting.md), so its differences are smaller than the book's printout.
Offline (the bundled MNIST sample); exits with status 1 if gradcheck fails.
"""

from __future__ import annotations

import sys

from minifw import MNIST, CentralDiff, CrossEntropy, MultiLayerNet, gradcheck


def main() -> int:
    train = MNIST.sample(one_hot=True).train
    x_batch, t_batch = train.x[:3], train.t[:3]
    # The book's ch05 TwoLayerNet: Affine, ReLU, Affine, SoftmaxWithLoss.
    network = MultiLayerNet(784, (50,), 10, activation="relu", weight_init=0.01, seed=0)
    report = gradcheck(network, x_batch, t_batch, CrossEntropy(), CentralDiff(h=1e-4))
    print("The book's comparison: mean |backprop - numerical| per parameter")
    print(report.book_lines())
    print("\nminifw's gradcheck of the same gradients")
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
