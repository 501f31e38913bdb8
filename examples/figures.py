"""Draw the pictures of chapter 4 with minifw's own numbers, as PNG files.

    python examples/figures.py                 # writes ./figures/*.png
    python examples/figures.py --out docs/img  # the copies the documentation shows

Every slope, gradient and error in these figures is computed by a minifw differentiator; the
plots only draw what it returns. Needs matplotlib (``pip install "minifw[plot]"``).

Figures:

- ``tangent.png``: y = 0.01x^2 + 0.1x and its tangent lines at x = 5 and x = 10, with slopes
  from ``CentralDiff().derivative``.
- ``paraboloid.png``: f(x0, x1) = x0^2 + x1^2 as a surface, and as contours with the negative
  gradient field from ``CentralDiff().gradient``.
- ``step_sigmoid.png``: the step function beside the sigmoid, and their numerical derivatives.
- ``difference_error.png``: the error of the forward and the central difference of exp at
  x = 1 as h shrinks (log-log), with the book's h = 1e-4 and the bad h = 1e-50 marked.
- ``scheme_errors.png``: the same error curves for every scheme (forward, central, five-point,
  complex step), truncation against rounding, each scheme's optimal step (``h="auto"``), the
  steps minifw refuses, and what RichardsonDiff reaches and at what cost.
- ``optimizers.png``: the book's optimizer comparison (its figure 6-9) with numerical gradients:
  the smoothed minibatch loss of SGD, Momentum, Nesterov, AdaGrad, RMSprop and Adam training the
  same MultiLayerNet 784-50-10 on the same batches for 200 steps (examples/compare_optimizers.py).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from minifw import (
    CentralDiff,
    ComplexStep,
    Differentiator,
    FivePointDiff,
    ForwardDiff,
    RichardsonDiff,
    StepWarning,
    sigmoid,
)
from minifw.errors import DifferentiationError

try:
    import matplotlib

    matplotlib.use("Agg")  # files only, no window: works on a server and in CI
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from PIL import Image  # a dependency of matplotlib
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit('figures.py needs matplotlib: pip install "minifw[plot]"')

FloatArray = np.typing.NDArray[np.float64]

DPI = 80


def book_function(x: float) -> float:
    """The book's example: y = 0.01x^2 + 0.1x."""
    return 0.01 * x**2 + 0.1 * x


def square_sum(x: FloatArray) -> float:
    """f(x0, x1) = x0^2 + x1^2."""
    return float(np.sum(x**2))


def step(x: float) -> float:
    """The step function: 1 for x > 0, else 0."""
    return 1.0 if x > 0 else 0.0


def save(fig: Figure, out: Path, name: str) -> Path:
    """Write ``fig`` as an indexed-colour PNG: a few tens of KB, small enough to commit."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    buffer.seek(0)
    path = out / name
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=128).save(path, optimize=True)
    return path


def tangent_figure(out: Path) -> Path:
    diff = CentralDiff()
    xs = np.linspace(0.0, 20.0, 201)
    fig, ax = plt.subplots(figsize=(7.0, 4.4), layout="constrained")
    ax.plot(xs, [book_function(x) for x in xs], color="black", lw=2, label="y = 0.01x² + 0.1x")
    for x0, color in ((5.0, "tab:blue"), (10.0, "tab:orange")):
        slope = diff.derivative(book_function, x0)
        y0 = book_function(x0)
        ax.plot(
            xs,
            y0 + slope * (xs - x0),
            color=color,
            ls="--",
            label=f"tangent at x = {x0:g}: slope {slope!r}",
        )
        ax.plot([x0], [y0], "o", color=color)
    ax.set(
        xlabel="x",
        ylabel="y",
        xlim=(0, 20),
        ylim=(-1, 6),
        title="Numerical derivative as the slope of a tangent (CentralDiff, h = 1e-4)",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return save(fig, out, "tangent.png")


def paraboloid_figure(out: Path) -> Path:
    fig = plt.figure(figsize=(9.0, 4.2), layout="constrained")
    grid = np.linspace(-2.0, 2.0, 25)
    x0, x1 = np.meshgrid(grid, grid)
    z = x0**2 + x1**2

    surf = fig.add_subplot(1, 2, 1, projection="3d")
    surf.plot_surface(x0, x1, z, cmap="viridis", linewidth=0, antialiased=False)
    surf.set(xlabel="x0", ylabel="x1", title="f(x0, x1) = x0² + x1²")
    surf.set_zlabel("f")
    surf.view_init(elev=28, azim=-60)

    ax = fig.add_subplot(1, 2, 2)
    fine = np.linspace(-2.0, 2.0, 101)
    f0, f1 = np.meshgrid(fine, fine)
    levels = ax.contour(f0, f1, f0**2 + f1**2, levels=[0.25, 1, 2, 3, 4], colors="tab:blue")
    ax.clabel(levels, fontsize=9, fmt="f = %g")
    # The gradient at each arrow's foot, from minifw; arrows point downhill (minus the gradient).
    diff = CentralDiff()
    arrows = np.linspace(-2.0, 2.0, 11)
    feet = np.array([[a, b] for b in arrows for a in arrows])
    grads = np.array([diff.gradient(square_sum, foot.copy()) for foot in feet])
    ax.quiver(feet[:, 0], feet[:, 1], -grads[:, 0], -grads[:, 1], angles="xy", color="tab:red")
    ax.set(
        xlabel="x0",
        ylabel="x1",
        aspect="equal",
        xlim=(-2.3, 2.3),
        ylim=(-2.3, 2.3),
        title="contours and -gradient (CentralDiff)",
    )
    return save(fig, out, "paraboloid.png")


def step_sigmoid_figure(out: Path) -> Path:
    diff = CentralDiff()
    # An even count of points: no sample falls on x = 0, where the step jumps.
    xs = np.linspace(-6.0, 6.0, 240)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.0, 5.6), sharex=True, layout="constrained")
    top.plot(xs, [step(x) for x in xs], color="tab:blue", lw=2, label="step function")
    top.plot(xs, sigmoid(xs), color="tab:orange", lw=2, label="sigmoid")
    top.set(ylabel="y", ylim=(-0.1, 1.1), title="The step function and the sigmoid")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)

    step_slope = [diff.derivative(step, float(x)) for x in xs]
    sigmoid_slope = [diff.derivative(lambda v: float(sigmoid(v)), float(x)) for x in xs]
    bottom.plot(xs, step_slope, color="tab:blue", lw=2, label="step: 0 wherever it is defined")
    bottom.plot(xs, sigmoid_slope, color="tab:orange", lw=2, label="sigmoid: never 0")
    bottom.axvline(0.0, color="tab:blue", ls=":", lw=1)
    bottom.annotate(
        "jump at x = 0:\nno derivative",
        xy=(0.0, 0.18),
        xytext=(1.2, 0.2),
        arrowprops={"arrowstyle": "->", "color": "tab:blue"},
        color="tab:blue",
    )
    bottom.set(
        xlabel="x",
        ylabel="dy/dx",
        ylim=(-0.02, 0.3),
        title="Their derivatives (CentralDiff, h = 1e-4)",
    )
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
    return save(fig, out, "step_sigmoid.png")


def relative_error(
    diff: Differentiator, f: Callable[[float], float], x: float, exact: float
) -> float:
    """The relative error of ``diff``'s derivative; nan where minifw refuses the step.

    These figures draw the rounding regime on purpose, so the StepWarning that a small fixed
    step draws is silenced here; steps that minifw refuses outright leave a gap.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StepWarning)
            return abs(diff.derivative(f, x) - exact) / abs(exact)
    except DifferentiationError:
        return math.nan


def difference_error_figure(out: Path) -> Path:
    x, exact = 1.0, float(np.e)  # d/dx exp(x) = exp(x)
    hs = np.logspace(-15, 0, 151)
    forward = [relative_error(ForwardDiff(h=h), np.exp, x, exact) for h in hs]
    central = [relative_error(CentralDiff(h=h), np.exp, x, exact) for h in hs]
    floor = np.finfo(np.float64).eps

    fig, (far, near) = plt.subplots(
        1,
        2,
        figsize=(9.0, 4.6),
        sharey=True,
        width_ratios=(1, 4),
        layout="constrained",
    )
    near.loglog(hs, forward, color="tab:blue", label="forward (f(x+h) - f(x)) / h")
    near.loglog(hs, central, color="tab:orange", label="central (f(x+h) - f(x-h)) / 2h")
    near.loglog(hs, hs / 2, color="tab:blue", ls=":", lw=1, label="truncation ~ h/2")
    near.loglog(hs, hs**2 / 6, color="tab:orange", ls=":", lw=1, label="truncation ~ h²/6")
    near.loglog(hs, floor / hs, color="gray", ls="--", lw=1, label="rounding ~ eps/h")
    near.axvline(1e-4, color="black", lw=1)
    for diff, color in ((ForwardDiff(), "tab:blue"), (CentralDiff(), "tab:orange")):
        near.plot([1e-4], [relative_error(diff, np.exp, x, exact)], "o", color=color)
    near.annotate("h = 1e-4\n(the book)", xy=(1e-4, 1e-16), xytext=(1.5e-4, 1e-16))
    near.axvspan(1e-15, 1.1e-13, color="tab:red", alpha=0.08, lw=0)
    near.annotate("minifw refuses:\nfloat spacing\nblurs the step", xy=(1.2e-15, 1e-2), fontsize=8)
    near.set(xlabel="step h", xlim=(1e-15, 1), ylim=(1e-17, 10), title="h from 1e-15 to 1")
    near.legend(loc="lower left", fontsize=8)
    near.grid(alpha=0.3, which="major")

    # h = 1e-50: 1 + 1e-50 == 1 in float64, so f(x + h) - f(x) is exactly 0 and the forward
    # difference says the slope is 0 (relative error 1). minifw refuses such a step.
    try:
        ForwardDiff(h=1e-50).derivative(np.exp, x)
    except DifferentiationError:
        pass
    else:  # pragma: no cover - would mean minifw changed
        raise AssertionError("ForwardDiff(h=1e-50) should raise DifferentiationError")
    bad = (np.exp(x + 1e-50) - np.exp(x)) / 1e-50
    far.loglog([1e-50], [abs(bad - exact) / exact], "x", color="tab:red", ms=10, mew=2)
    far.annotate(
        f"h = 1e-50\nx + h == x\nforward diff = {bad:g}\n(minifw raises\nDifferentiationError)",
        xy=(1e-50, 1.0),
        xytext=(1e-52, 1e-7),
        fontsize=8,
        color="tab:red",
        arrowprops={"arrowstyle": "->", "color": "tab:red"},
    )
    far.set(
        xlim=(1e-53, 1e-47),
        xlabel="step h",
        ylabel="relative error of d/dx exp(x) at x = 1",
        title="h = 1e-50",
    )
    far.set_xticks([1e-52, 1e-50, 1e-48])
    far.grid(alpha=0.3, which="major")
    fig.suptitle("Forward vs central difference: truncation error falls with h, rounding rises")
    return save(fig, out, "difference_error.png")


def scheme_errors_figure(out: Path) -> Path:
    x, exact = 1.0, float(np.e)  # d/dx exp(x) = exp(x)
    hs = np.logspace(-16, 0, 161)
    eps = float(np.finfo(np.float64).eps)
    schemes: list[tuple[str, type[Differentiator], str, Callable[[FloatArray], FloatArray]]] = [
        ("forward", ForwardDiff, "tab:blue", lambda h: h / 2),
        ("central", CentralDiff, "tab:orange", lambda h: h**2 / 6),
        ("five-point", FivePointDiff, "tab:green", lambda h: h**4 / 30),
        ("complex step", ComplexStep, "tab:red", lambda h: h**2 / 6),
    ]
    floor = 1e-17  # an error of exactly 0 is drawn here
    fig, ax = plt.subplots(figsize=(9.0, 5.4), layout="constrained")
    for label, scheme, color, truncation in schemes:
        errors = np.array([relative_error(scheme(h=h), np.exp, x, exact) for h in hs])
        ax.loglog(hs, np.maximum(errors, floor), color=color, lw=1.8, label=label)
        ax.loglog(hs, truncation(hs), color=color, ls=":", lw=1)
        if scheme is not ComplexStep:  # the auto step of the scheme, eps ** (1 / (p + 1))
            auto = scheme(h="auto")
            order = auto.stencil.order
            h_auto = 2.0 ** round(math.log2(eps) / (order + 1))
            ax.plot(
                [h_auto],
                [max(relative_error(auto, np.exp, x, exact), floor)],
                "v",
                color=color,
                ms=9,
            )
    ax.loglog(hs, eps / hs, color="gray", ls="--", lw=1, label="rounding ~ eps/h")
    ax.axvspan(1e-16, 1.1e-13, color="tab:red", alpha=0.08, lw=0)
    ax.annotate(
        "fixed steps minifw refuses\n(float spacing blurs x + h)", xy=(1.3e-16, 3e-3), fontsize=8
    )
    result = RichardsonDiff().estimate(np.exp, x)
    rich = max(abs(result.value - exact) / exact, floor)
    ax.axhline(rich, color="tab:purple", lw=1, ls="-.")
    ax.annotate(
        f"RichardsonDiff: {rich:.0e} from {result.evaluations} calls "
        f"(its bound: {result.error / exact:.0e})",
        xy=(2e-16, rich * 2.5),
        color="tab:purple",
        fontsize=9,
    )
    ax.annotate(
        "complex step: no subtraction,\nflat at the rounding level",
        xy=(1e-12, 2e-17),
        xytext=(3e-11, 1e-15),
        color="tab:red",
        fontsize=9,
        arrowprops={"arrowstyle": "->", "color": "tab:red"},
    )
    ax.plot([], [], "v", color="black", label='h="auto" (eps^(1/(p+1)))')
    ax.plot([], [], ":", color="black", lw=1, label="truncation: h/2, h²/6, h⁴/30")
    ax.set(
        xlabel="step h",
        ylabel="relative error of d/dx exp(x) at x = 1",
        xlim=(1e-16, 1),
        ylim=(5e-18, 10),
        title="Error against step for each scheme (0 is drawn at 1e-17)",
    )
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    return save(fig, out, "scheme_errors.png")


def optimizers_figure(out: Path) -> Path:
    """The book's optimizer comparison with numerical gradients (examples/compare_optimizers.py)."""
    import compare_optimizers  # beside this script

    fig = compare_optimizers.draw(compare_optimizers.compare(200, 0, verbose=False))
    return save(fig, out, "optimizers.png")


FIGURES: dict[str, Callable[[Path], Path]] = {
    "tangent": tangent_figure,
    "paraboloid": paraboloid_figure,
    "step_sigmoid": step_sigmoid_figure,
    "difference_error": difference_error_figure,
    "scheme_errors": scheme_errors_figure,
    "optimizers": optimizers_figure,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    parser.add_argument(
        "--only", choices=sorted(FIGURES), action="append", help="draw only this figure"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or FIGURES:
        path = FIGURES[name](args.out)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
