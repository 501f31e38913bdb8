r"""Sparsity patterns: which outputs depend on which inputs, and columns grouped to share steps.

A Jacobian \(J\) (outputs by inputs, flattened) whose pattern is known costs one stencil per
*group* of columns instead of one per column: columns that share no row are *structurally
orthogonal*, so one line along their (scaled) sum gives every one of their entries, each row
seeing only its own column (Curtis, Powell and Reid, 1974).
[`column_groups`][minifw.numdiff.sparsity.column_groups] groups them greedily, columns with the
most entries first; a banded Jacobian of bandwidth \(b\) takes \(2b + 1\) groups whatever its size
(a tridiagonal one, 3).

A pattern is a `scipy.sparse` matrix or array (its stored, non-zero entries) or a boolean numpy
array, of shape `(f(x).size, x.size)` ([`Pattern`][minifw.numdiff.sparsity.Pattern]). scipy is not
a dependency of minifw: a scipy pattern brings it, and the Jacobian of a scipy pattern is a scipy
matrix of the same format; that of a boolean array is a dense array with zeros outside the
pattern.

Examples:
    >>> import numpy as np
    >>> band = np.eye(5, dtype=bool) | np.eye(5, k=1, dtype=bool) | np.eye(5, k=-1, dtype=bool)
    >>> [group.tolist() for group in column_groups(Pattern.of(band, (5, 5)))]
    [[1, 4], [2], [0, 3]]

"""

from __future__ import annotations

from typing import Any, final

import attrs
import numpy as np

from minifw.errors import ValidationError
from minifw.typing import FloatArray, IntArray

__all__ = ["Pattern", "column_groups"]


def _is_scipy_sparse(value: object) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("scipy.sparse") and hasattr(value, "tocoo")


@final
@attrs.frozen(eq=False)
class Pattern:
    """The structurally non-zero entries `(rows, cols)` of a Jacobian of `shape`, and its kind.

    `sparse` holds the scipy matrix the pattern came from (`None` for a boolean array): the
    result takes its class and format.
    """

    rows: IntArray
    cols: IntArray
    shape: tuple[int, int]
    sparse: Any = None

    @classmethod
    def of(cls, pattern: object, shape: tuple[int, int]) -> Pattern:
        """Read a pattern, refusing one of another shape or kind (see the module text).

        Examples:
            >>> Pattern.of(np.ones((2, 3)), (2, 3))
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: sparsity must be a scipy.sparse matrix or a boolean numpy array of shape (2, 3) (outputs by inputs), got a float64 array

        """
        expected = f"of shape {shape} (outputs by inputs)"
        if _is_scipy_sparse(pattern):
            coo = pattern.tocoo()  # type: ignore[attr-defined]
            if tuple(coo.shape) != shape:
                raise ValidationError(
                    f"sparsity must be {expected}, got a scipy.sparse matrix of shape {coo.shape}"
                )
            keep = np.asarray(coo.data) != 0
            return cls(
                np.asarray(coo.row, dtype=np.intp)[keep],
                np.asarray(coo.col, dtype=np.intp)[keep],
                shape,
                pattern,
            )
        if not isinstance(pattern, np.ndarray) or pattern.dtype != np.bool_:
            kind = (
                f"a {pattern.dtype} array"
                if isinstance(pattern, np.ndarray)
                else (type(pattern).__name__)
            )
            raise ValidationError(
                f"sparsity must be a scipy.sparse matrix or a boolean numpy array {expected}, "
                f"got {kind}"
            )
        if pattern.shape != shape:
            raise ValidationError(f"sparsity must be {expected}, got shape {pattern.shape}")
        rows, cols = np.nonzero(pattern)
        return cls(rows.astype(np.intp), cols.astype(np.intp), shape)

    def result(self, values: FloatArray) -> Any:
        """Return the Jacobian holding `values` at the pattern's entries, in the pattern's kind."""
        if self.sparse is None:
            dense = np.zeros(self.shape)
            dense[self.rows, self.cols] = values
            return dense
        import scipy.sparse  # type: ignore[import-untyped]  # present: the pattern is scipy's

        coo = scipy.sparse.coo_array((values, (self.rows, self.cols)), shape=self.shape)
        if not isinstance(self.sparse, scipy.sparse.sparray):
            coo = scipy.sparse.coo_matrix(coo)
        return coo.asformat(self.sparse.format)


def column_groups(pattern: Pattern) -> list[IntArray]:
    """Return groups of structurally orthogonal columns (no two share a row), greedily.

    Columns with the most entries go first, each into the first group none of whose columns
    shares a row with it; a column with no entry is in no group (its Jacobian column is 0).
    """
    rows_of: list[list[int]] = [[] for _ in range(pattern.shape[1])]
    for r, c in zip(pattern.rows.tolist(), pattern.cols.tolist(), strict=True):
        rows_of[c].append(r)
    order = sorted(
        (c for c in range(pattern.shape[1]) if rows_of[c]), key=lambda c: (-len(rows_of[c]), c)
    )
    groups: list[list[int]] = []
    taken: list[set[int]] = []
    for c in order:
        for g, rows in enumerate(taken):
            if rows.isdisjoint(rows_of[c]):
                groups[g].append(c)
                rows.update(rows_of[c])
                break
        else:
            groups.append([c])
            taken.append(set(rows_of[c]))
    return [np.array(sorted(g), dtype=np.intp) for g in groups]
