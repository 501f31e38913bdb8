r"""What a check of derivatives reports: one comparison per array, the fast screens, the verdict.

A check compares a numerical derivative \(\hat g\) (a gradient, a Jacobian, a Hessian) with an
analytic one \(g\), array by array ([`compare`][minifw.numdiff.reports.compare]):

- the largest absolute error \(\max_i |\hat g_i - g_i|\) and where it is;
- the *scaled* error \(\max_i |\hat g_i - g_i| / \max_i |g_i|\): an entry's own relative error is
  meaningless where the derivative is (nearly) zero, so the error is measured against the scale
  of the whole array;
- the largest per-entry relative error \(|\hat g_i - g_i| / \max(|\hat g_i|, |g_i|)\), for
  information;
- the entries off by more than `tolerance * max|g|` plus the numerical derivative's own error
  bound where the scheme has one ([`RichardsonDiff`][minifw.numdiff.schemes.richardson.RichardsonDiff]):
  the first few by index and how many, and (for the checks of a function) the worst ones with their
  absolute and relative errors. The array passes when there is none.

Used by the checks of a function ([`minifw.numdiff.function_check`][minifw.numdiff.function_check])
and of a model's backprop ([`gradcheck`][minifw.nn.gradcheck.gradcheck]).

Examples:
    >>> import numpy as np
    >>> check = compare("x", np.array([1.0, 2.0, 3.5]), np.array([1.0, 2.0, 3.0]), 1e-7)
    >>> check.passed, check.wrong, check.entries[0].abs_error
    (False, ((2,),), 0.5)

"""

from __future__ import annotations

import math
from typing import final

import attrs
import numpy as np

from minifw._validation import is_positive_float
from minifw.errors import ValidationError
from minifw.typing import FloatArray

__all__ = [
    "LISTED",
    "DirectionCheck",
    "Entry",
    "GradcheckReport",
    "ParamCheck",
    "check_options",
    "check_tolerance",
    "compare",
]

LISTED = 5
"""Wrong entries listed by index in a report (all of them are counted)."""


def _shown(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


@final
@attrs.frozen
class Entry:
    """One entry of a comparison: where, both values, and how far apart they are."""

    index: tuple[int, ...]
    numerical: float
    analytic: float
    abs_error: float
    rel_error: float

    def __str__(self) -> str:
        return (
            f"{_shown(self.index)}: {self.numerical:.6e} vs {self.analytic:.6e}, abs "
            f"{self.abs_error:.3e}, rel {self.rel_error:.3e}"
        )


@final
@attrs.frozen
class ParamCheck:
    r"""The comparison of one array's numerical and analytic derivatives.

    `wrong` holds the indices of the first `LISTED` entries whose error is above
    `tolerance * scale` plus the numerical error bound (`n_wrong` counts them all); `entries`
    the worst of them, worst first, with their errors (filled by the checks of a function);
    `error_bound` is the largest bound on the numerical derivative's own error (nan for a scheme
    without bounds). Errors are measured against `max(scale, scale_floor)`: a model's check sets
    `scale_floor` to `SCALE_FLOOR` times its largest gradient entry, so that an array whose
    gradient is (nearly) zero (a bias before batch normalization, where both methods give
    rounding) is not judged by its own scale. `mean_abs_error` is
    \(\operatorname{mean}_i |\hat g_i - g_i|\), what the book's gradient-check scripts print.
    """

    name: str
    shape: tuple[int, ...]
    scale: float
    max_abs_error: float
    scaled_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    numerical: float
    analytic: float
    tolerance: float
    wrong: tuple[tuple[int, ...], ...] = ()
    n_wrong: int = 0
    error_bound: float = math.nan
    entries: tuple[Entry, ...] = ()
    scale_floor: float = 0.0
    mean_abs_error: float = math.nan

    @property
    def passed(self) -> bool:
        """Whether no entry is off by more than its allowance (see the class text)."""
        return self.n_wrong == 0


@final
@attrs.frozen
class DirectionCheck:
    r"""A fast check of one array: the derivative along a random unit direction \(u\).

    `numerical` is the scheme's derivative along \(u\) (of the output `output` for an array-valued
    function: the worst one), `analytic` the same from the analytic derivative (\(u \cdot g\),
    \((J u)_r\) or \((H u)_r\)), `scale` what it can be at most (\(\lVert g \rVert_2\), the largest
    row norm of \(J\) or \(H\)) and `error_bound` the scheme's bound on its own error (nan without
    one).
    """

    name: str
    numerical: float
    analytic: float
    scale: float
    tolerance: float
    error_bound: float = math.nan
    output: tuple[int, ...] = ()
    scale_floor: float = 0.0

    @property
    def error(self) -> float:
        """`|numerical - analytic|`."""
        return abs(self.numerical - self.analytic)

    @property
    def scaled_error(self) -> float:
        """The error over `max(scale, scale_floor)` (inf for a zero scale and a non-zero error)."""
        scale = max(self.scale, self.scale_floor)
        if scale > 0:
            return self.error / scale
        return 0.0 if self.error == 0 else math.inf

    @property
    def passed(self) -> bool:
        """Whether the error is within `tolerance * max(scale, scale_floor)` plus the error bound."""
        bound = 0.0 if math.isnan(self.error_bound) else self.error_bound
        return self.error <= self.tolerance * max(self.scale, self.scale_floor) + bound


@final
@attrs.frozen
class GradcheckReport:
    """The result of a check: `gradcheck`, `gradcheck_function` or `hessian_check`.

    `checks` holds one [`ParamCheck`][minifw.numdiff.reports.ParamCheck] per array (empty when a
    fast check passed and the full check was not needed); `directions` one
    [`DirectionCheck`][minifw.numdiff.reports.DirectionCheck] per array and direction in fast
    mode. `str(report)` is a table, one row per array, then the entries that failed.
    """

    checks: tuple[ParamCheck, ...]
    tolerance: float
    differentiator: str
    directions: tuple[DirectionCheck, ...] = ()
    against: str = "backprop"

    @property
    def passed(self) -> bool:
        """Whether every check that ran passed (the full check decides when it ran)."""
        if self.checks:
            return all(check.passed for check in self.checks)
        return all(d.passed for d in self.directions)

    def book_lines(self) -> str:
        """Return the full check as the book's gradient-check scripts print it: `W1:<mean |num - ana|>`.

        One line per array, `name + ":" + str(mean absolute difference)`, as
        `ch05/gradient_check.py` prints `np.average(np.abs(grad_backprop[key] - grad_numerical[key]))`
        (empty when only the fast check ran).

        Examples:
            >>> import numpy as np
            >>> from minifw import TwoLayerNet, gradcheck
            >>> net = TwoLayerNet(input_size=3, hidden_size=2, output_size=2, seed=0)
            >>> lines = gradcheck(net, np.ones((1, 3)), [1]).book_lines().splitlines()
            >>> [line.split(":")[0] for line in lines]
            ['W1', 'b1', 'W2', 'b2']

        """
        return "\n".join(f"{check.name}:{check.mean_abs_error}" for check in self.checks)

    def __str__(self) -> str:
        lines = []
        if self.directions:
            lines += _direction_table(self)
        if self.checks:
            lines += _full_table(self)
        lines.append(f"overall: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        checked = self.checks or self.directions
        worst = max((c.scaled_error for c in checked), default=0.0)
        kind = "arrays" if self.checks else "random directions"
        return (
            f"GradcheckReport({'PASS' if self.passed else 'FAIL'}: {len(checked)} {kind}, "
            f"{self.differentiator} vs {self.against}, worst scaled error {worst:.3g} "
            f"(tolerance {self.tolerance:g}))"
        )

    def _repr_html_(self) -> str:
        """Return the table Jupyter shows: a row per array (or direction), the verdict above."""
        from minifw._html import html_table

        verdict = (
            f"gradcheck {'PASS' if self.passed else 'FAIL'}: {self.differentiator} vs "
            f"{self.against}"
        )
        if self.checks:
            rows = [
                [
                    c.name,
                    "x".join(map(str, c.shape)),
                    f"{c.scale:.3e}",
                    f"{c.max_abs_error:.3e}",
                    f"{c.scaled_error:.3e}",
                    "[" + ", ".join(map(str, c.worst_index)) + "]",
                    f"{c.n_wrong} of {math.prod(c.shape)}",
                    "pass" if c.passed else "FAIL",
                ]
                for c in self.checks
            ]
            header = [
                "param", "shape", "max|g|", "max abs err", "scaled err", "worst entry", "off",
                "result",
            ]
        else:
            rows = [
                [
                    d.name,
                    f"{d.numerical:.4e}",
                    f"{d.analytic:.4e}",
                    f"{d.scaled_error:.3e}",
                    "pass" if d.passed else "FAIL",
                ]
                for d in self.directions
            ]
            header = ["param", "d/ds num", "u . g", "scaled err", "result"]
        caption = f"{verdict} (pass if scaled error <= {self.tolerance:g})"
        return html_table(header, rows, caption=caption)



def _direction_table(report: GradcheckReport) -> list[str]:
    header = (
        f"{'param':<6} {'d/ds num':>11} {'u . g':>11} {'|g|':>9} {'scaled err':>10}  {'result':<6}"
    )
    lines = [
        f"fast gradcheck: {report.differentiator} along a random unit u per array vs "
        f"{report.against}, pass if |num - u . g| / |g| <= {report.tolerance:g}",
        header,
        "-" * len(header),
    ]
    for d in report.directions:
        name = d.name + (_shown(d.output) if d.output else "")
        lines.append(
            f"{name:<6} {d.numerical:>11.4e} {d.analytic:>11.4e} {d.scale:>9.3e} "
            f"{d.scaled_error:>10.3e}  {'pass' if d.passed else 'FAIL':<6}"
        )
    if report.checks:
        lines.append("a direction failed: the full check follows")
    return lines


def _full_table(report: GradcheckReport) -> list[str]:
    bounds = any(not math.isnan(c.error_bound) for c in report.checks)
    header = (
        f"{'param':<6} {'shape':<11} {'max|g|':>9} {'max abs err':>11} {'scaled err':>10} "
        f"{'max rel err':>11}  {'worst entry':<12} {'result':<6}"
        + (f" {'num err bound':>13}" if bounds else "")
    )
    lines = [
        f"gradcheck: {report.differentiator} vs {report.against}, pass if "
        f"max|num - ana| / max|ana| <= {report.tolerance:g}",
        header,
        "-" * len(header),
    ]
    for c in report.checks:
        lines.append(
            f"{c.name:<6} {'x'.join(map(str, c.shape)):<11} {c.scale:>9.3e} "
            f"{c.max_abs_error:>11.3e} {c.scaled_error:>10.3e} {c.max_rel_error:>11.3e}  "
            f"{_shown(c.worst_index):<12} {'pass' if c.passed else 'FAIL':<6}"
            + (f" {c.error_bound:>13.3e}" if bounds else "")
        )
    failing = [c for c in report.checks if c.n_wrong]
    if failing:
        extra = " (+ the numerical error bound)" if bounds else ""
        lines.append(f"entries off by more than {report.tolerance:g} * max|g|{extra}:")
    for c in failing:
        shown = ", ".join(_shown(i) for i in c.wrong)
        more = f" and {c.n_wrong - len(c.wrong)} more" if c.n_wrong > len(c.wrong) else ""
        lines.append(f"  {c.name}: {c.n_wrong} of {math.prod(c.shape)}: {shown}{more}")
    listed = [c for c in failing if c.entries]
    if listed:
        lines.append("worst entries (numerical vs analytic, absolute and relative error):")
    for c in listed:
        lines += [f"  {c.name}{entry}" for entry in c.entries]
    return lines


def check_tolerance(tolerance: object) -> float:
    """Return a tolerance as a float, refusing anything but a positive finite number."""
    if not is_positive_float(tolerance):
        raise ValidationError(f"tolerance must be a positive float, got tolerance={tolerance!r}")
    return float(tolerance)  # type: ignore[arg-type]


def check_options(fast: object, seed: object) -> None:
    """Refuse a `fast` that is not a bool and a `seed` that is not a non-negative integer."""
    if not isinstance(fast, bool):
        raise ValidationError(f"fast must be True or False, got fast={fast!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer, got seed={seed!r}")


def compare(
    name: str,
    numerical: FloatArray,
    analytic: FloatArray,
    tolerance: float,
    bounds: FloatArray | None = None,
    *,
    floor: float = 0.0,
    scale_floor: float = 0.0,
    listed: bool = True,
) -> ParamCheck:
    r"""Compare two arrays of derivatives entry by entry (see the module text).

    An entry is wrong when \(|\hat g_i - g_i| >\) `tolerance` \(\cdot \max|g|\) + `floor` +
    its bound (`bounds`, nan or `None` where the scheme has none), with \(\max|g|\) raised to
    `scale_floor` where it is smaller. `floor` is an absolute allowance (the rounding of the
    numerical derivative, say); `listed` says whether to list the worst entries with their errors.
    """
    error = np.abs(numerical - analytic)
    flat = int(np.argmax(error))
    worst = tuple(int(i) for i in np.unravel_index(flat, error.shape))
    scale = float(np.max(np.abs(analytic), initial=0.0))
    judged = max(scale, scale_floor)
    max_abs = float(error.reshape(-1)[flat])
    denom = np.maximum(np.abs(numerical), np.abs(analytic))
    rel = np.divide(error, denom, out=np.zeros_like(error), where=denom > 0)
    # An all-zero analytic derivative is matched only by an all-zero numerical one.
    scaled = max_abs / judged if judged > 0 else (0.0 if max_abs == 0 else math.inf)
    own = np.zeros(error.shape) if bounds is None else np.nan_to_num(bounds, nan=0.0)
    allowed = tolerance * judged + floor + own
    wrong = np.flatnonzero((error > allowed).reshape(-1))
    order = wrong[np.argsort(-(error.reshape(-1)[wrong]), kind="stable")][:LISTED]
    entries = tuple(
        Entry(
            tuple(int(i) for i in np.unravel_index(k, error.shape)),
            float(numerical.reshape(-1)[k]),
            float(analytic.reshape(-1)[k]),
            float(error.reshape(-1)[k]),
            float(rel.reshape(-1)[k]),
        )
        for k in (order.tolist() if listed else [])
    )
    return ParamCheck(
        name=name,
        shape=tuple(analytic.shape),
        scale=scale,
        max_abs_error=max_abs,
        scaled_error=scaled,
        max_rel_error=float(np.max(rel, initial=0.0)),
        worst_index=worst,
        numerical=float(numerical.reshape(-1)[flat]),
        analytic=float(analytic.reshape(-1)[flat]),
        tolerance=tolerance,
        wrong=tuple(
            tuple(int(i) for i in np.unravel_index(k, error.shape)) for k in wrong[:LISTED]
        ),
        n_wrong=int(wrong.size),
        error_bound=float(np.max(bounds)) if bounds is not None else math.nan,
        entries=entries,
        scale_floor=scale_floor,
        mean_abs_error=float(np.average(error)),
    )
