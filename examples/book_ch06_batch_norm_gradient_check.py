"""The book's ch06/batch_norm_gradient_check.py with minifw: batch normalization's backprop checked.

    python examples/book_ch06_batch_norm_gradient_check.py

The book builds `MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100],
output_size=10, use_batchnorm=True)`, takes the first training image, and prints the mean
absolute difference between backprop and its numerical gradient for every parameter, `gamma1`
and `beta1` included. The same call works in minifw (plus `seed=`); this script prints the book's
comparison and then minifw's gradcheck, in two parts:

1. The book's batch of one image. Normalizing a batch of one gives 0 for every unit, so each
   batch normalization layer outputs its `beta`, which starts at 0: every ReLU after it sits
   exactly on its kink. Backprop takes the slope there as 0 (as the book's does); a central
   difference sees the mean of both sides. The check of `beta2` fails, in the book's printout
   as in minifw's, and every other gradient is 0 (the loss does not depend on what comes before a
   normalization of one value).
2. The first ten images: the check passes (the biases before a batch normalization layer still
   have a zero gradient, which gradcheck judges against the model's scale). With very few images
   the normalization is sharply curved and h = 1e-4 shows truncation error; with ten it does not.

The gradients are of the training loss (batch statistics, the book's `train_flg=True`); checking
them does not move the running statistics. Offline; exits with status 1 unless part 1 fails at
`beta2` alone and part 2 passes.
"""

from __future__ import annotations

import sys

from minifw import MNIST, CentralDiff, CrossEntropy, GradcheckReport, MultiLayerNetExtend, gradcheck


def check(images: int) -> GradcheckReport:
    """Print the book's comparison and minifw's gradcheck on the first `images` training images."""
    train = MNIST.sample(one_hot=True).train
    network = MultiLayerNetExtend(
        input_size=784, hidden_size_list=[100, 100], output_size=10, use_batchnorm=True, seed=0
    )
    x_batch, t_batch = train.x[:images], train.t[:images]
    report = gradcheck(network, x_batch, t_batch, CrossEntropy(), CentralDiff(h=1e-4))
    print("The book's comparison: mean |backprop - numerical| per parameter")
    print(report.book_lines())
    print("\nminifw's gradcheck of the same gradients")
    print(report, end="\n\n")
    return report


def main() -> int:
    print("1. The book's batch: one image (every ReLU after a batch normalization on its kink)\n")
    one = check(1)
    print("2. The first ten images\n")
    ten = check(10)
    failed = [c.name for c in one.checks if not c.passed]
    expected = failed == ["beta2"] and ten.passed
    print("every check came out as expected" if expected else "UNEXPECTED RESULT")
    return 0 if expected else 1


if __name__ == "__main__":
    sys.exit(main())
