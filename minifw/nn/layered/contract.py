r"""The check of a layer of your own against the rules every layer keeps, once per layer and shape.

The engine trusts a layer's rules: it hands the layers the activations it holds and the moves it
pushes, and adds up what `change` returns. A user layer that writes into its input, or into a
move, or whose `change` is not the difference of its `forward`, would give numerical gradients
that are silently wrong (or zero), and only [`gradcheck`][minifw.nn.gradcheck] would notice. So
the activations and moves are handed out read-only ([`read_only`][minifw.nn.layered.contract.read_only]),
and before a model's objective is built every layer whose class is not minifw's own is tried on a
few rows of its input (a row-coupled one on the whole batch;
[`check_layers`][minifw.nn.layered.contract.check_layers]):

- `forward` on read-only rows must not write into them, and must return floats (not integers
  or bools), one row per example, finite where the input is; `backward` must not write into
  its arguments either;
- the rules the engine uses for a move (`change`; `batch_change` for a
  [row-coupled][minifw.nn.layers.RowCoupled] layer, `unit_change` for an
  [elementwise][minifw.nn.layers.Elementwise] one, `image` for a [linear][minifw.nn.layers.Linear]
  one) are asked for two small moves \(\Delta x\), read-only, and must return floats of the
  output's shape that match the difference of outputs,

\[
\lvert c - (f(x + \Delta x) - f(x))\rvert \le 10^{-6} \max_{\text{row}} \lvert f(x + \Delta x) - f(x)\rvert
+ 64\,\varepsilon\,(\lvert f(x)\rvert + \lvert f(x + \Delta x)\rvert)
\]

elementwise (\(\varepsilon\) the output's machine epsilon). A correct `change` is that difference
computed without its cancellation, so it meets the bound wherever the moves fall, kinks
included (it is the difference, not a derivative); a change that is zero, ignores the move, or is
off by a factor fails it by orders of magnitude.

The verdict is kept per layer instance and input shape: a Trainer that builds one objective per
step checks a layer once. Built-in layers are tested in the suite and never checked here.

Examples:
    >>> import numpy as np
    >>> from minifw.nn.layers import Tanh
    >>> x = read_only(np.zeros((2, 3)))
    >>> x.flags.writeable
    False
    >>> check_layers((Tanh(),), (Tanh(),), (x, np.tanh(x)))   # minifw's own: not checked

"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minifw.errors import LayerContractError, MinifwError
from minifw.nn.capability import declares
from minifw.nn.layers.layer import Elementwise, Layer, Linear, PerExample, RowCoupled
from minifw.typing import AnyArray

__all__ = ["check_layers", "read_only", "refuse_write"]

ROWS = 3  # rows of the batch a layer is tried on
MOVES = (1e-3, -3e-5)  # relative sizes of the two moves
RTOL = 1e-6  # of the largest difference of a row
ROUNDING = 64  # machine epsilons of the outputs, for the cancellation in the difference

# id(layer) -> (a weak reference to it, the input shapes it passed for)
_passed: dict[int, tuple[weakref.ref[Layer], set[tuple[int, ...]]]] = {}


def read_only(a: AnyArray) -> AnyArray:
    """Return a view of `a` that cannot be written (the array itself stays writable).

    Examples:
        >>> a = np.zeros(2)
        >>> read_only(a).flags.writeable, a.flags.writeable
        (False, True)

    """
    view = a.view()
    view.setflags(write=False)
    return view


def refuse_write(k: int, layer: object, rule: str, err: Exception) -> None:
    """Raise [`LayerContractError`][minifw.errors.LayerContractError] if `err` is a write into a read-only argument.

    For a layer's rule called on read-only activations (the forward pass, the assembly's dry run).
    """
    if isinstance(err, ValueError) and "read-only" in str(err):
        raise LayerContractError(
            f"layer {k} ({type(layer).__name__}).{rule} writes into its input x ({err}): a layer "
            "must not modify its arguments (the engine keeps them as the batch's activations); "
            "compute into a new array, or copy first (x = x.copy())"
        ) from err


def check_layers(layers: Sequence[Layer], used: Sequence[Layer], acts: Sequence[AnyArray]) -> None:
    """Check each layer of your own on a few rows of its input (see the module text).

    `layers` are the model's layers, `used` the forms that act on this batch (training forms),
    `acts[k]` the input of `used[k]`. A verdict is kept per `layers[k]` and input shape.

    Raises:
        LayerContractError: a layer broke a rule; the message names it and what it did.

    """
    for k, (layer, here) in enumerate(zip(layers, used, strict=True)):
        if _builtin(here):
            continue
        shape = tuple(acts[k].shape[1:])
        found = _passed.get(id(layer))
        if found is not None and found[0]() is layer and shape in found[1]:
            continue
        _check_layer(k, here, acts[k])
        _remember(layer, shape)


def _builtin(layer: Layer) -> bool:
    module = type(layer).__module__
    return module == "minifw" or module.startswith("minifw.")


def _remember(layer: Layer, shape: tuple[int, ...]) -> None:
    key = id(layer)
    found = _passed.get(key)
    if found is not None and found[0]() is layer:
        found[1].add(shape)
        return
    try:
        ref = weakref.ref(layer, lambda _: _passed.pop(key, None))
    except TypeError:  # not weakly referable: checked every time
        return
    _passed[key] = (ref, {shape})


def _check_layer(k: int, layer: Layer, batch: AnyArray) -> None:
    """Try `layer` on the first rows of `batch` (its input): forward, then each move rule."""
    name = f"layer {k} ({type(layer).__name__})"
    # A row-coupled layer is only ever handed the whole batch (its rule may depend on its size).
    rows = np.arange(batch.shape[0] if declares(layer, RowCoupled) else min(ROWS, batch.shape[0]))
    here = layer.for_rows(rows) if declares(layer, PerExample) else layer
    x = np.array(batch[rows], dtype=np.float64)
    y = _output(name, "forward", _call(name, "forward", here.forward, (x,), ("x",)), x.shape[:1])
    # backprop hands backward the held activations too: it must not write into them either.
    _call(name, "backward", here.backward, (x, y, np.ones_like(y)), ("x", "y", "dy"))
    rng = np.random.default_rng(0)
    for size in MOVES:
        dx = size * rng.choice([-1.0, 1.0], size=x.shape) * (1.0 + np.abs(x))
        after = _output(
            name, "forward", _call(name, "forward", here.forward, (x + dx,), ("x",)), y.shape
        )
        for rule, call, args, shape in _rules(here, x, y, dx):
            names = ("dx",) if rule == "image" else ("x", "y", "dx")
            found = _output(name, rule, _call(name, rule, call, args, names), shape)
            _compare(name, rule, found.reshape(y.shape), y, after, size)


def _rules(
    layer: Layer, x: AnyArray, y: AnyArray, dx: AnyArray
) -> list[tuple[str, Callable[..., Any], tuple[AnyArray, ...], tuple[int, ...]]]:
    """Return the rules the engine may ask for this move: name, call, arguments, result shape."""
    found: list[tuple[str, Callable[..., Any], tuple[AnyArray, ...], tuple[int, ...]]] = [
        ("change", layer.change, (x, y, dx), y.shape)
    ]
    if declares(layer, RowCoupled):
        found.append(("batch_change", layer.batch_change, (x, y, dx[None]), (1, *y.shape)))
    if declares(layer, Elementwise) and x.shape == y.shape:
        flat = (x.reshape(-1), y.reshape(-1), dx.reshape(-1))
        found.append(("unit_change", layer.unit_change, flat, (y.size,)))
    if declares(layer, Linear):
        found.append(("image", layer.image, (dx,), y.shape))
    return found


def _call(
    name: str,
    rule: str,
    call: Callable[..., Any],
    args: tuple[AnyArray, ...],
    names: tuple[str, ...],
) -> Any:
    """Call a rule on read-only copies of `args`; name the layer if it writes into one or fails."""
    frozen = [read_only(np.array(a)) for a in args]
    try:
        out = call(*frozen)
    except MinifwError:
        raise
    except ValueError as err:
        if "read-only" in str(err):
            raise LayerContractError(
                f"{name}.{rule} writes into its argument {_written(call, args, names)} ({err}): a "
                "layer must not modify its arguments (the engine keeps them as the batch's "
                "activations and moves); compute into a new array, or copy first"
            ) from err
        raise _failed(name, rule, args, err) from err
    except (TypeError, IndexError, ArithmeticError) as err:
        raise _failed(name, rule, args, err) from err
    for kept, given, arg in zip(frozen, args, names, strict=True):
        if not np.array_equal(kept, given, equal_nan=True):
            raise LayerContractError(
                f"{name}.{rule} modified its argument {arg} in place: a layer must not modify its "
                "arguments (the engine keeps them as the batch's activations and moves)"
            )
    return out


def _written(call: Callable[..., Any], args: tuple[AnyArray, ...], names: tuple[str, ...]) -> str:
    """Name the arguments a rule writes into, by calling it on writable copies."""
    copies = [np.array(a) for a in args]
    with contextlib.suppress(Exception):  # only which argument changed matters here
        call(*copies)
    changed = [
        n
        for n, c, a in zip(names, copies, args, strict=True)
        if not np.array_equal(c, a, equal_nan=True)
    ]
    return " and ".join(changed) if changed else "/".join(names)


def _failed(name: str, rule: str, args: Sequence[AnyArray], err: Exception) -> LayerContractError:
    return LayerContractError(
        f"{name}.{rule} failed on {args[0].shape[0]} rows of its input (shape {args[0].shape}): "
        f"{err}; a layer's rules must work on any rows of a batch (one whose rule differs per "
        "example declares PerExample)"
    )


def _output(name: str, rule: str, raw: Any, shape: tuple[int, ...]) -> AnyArray:
    """Refuse a result that is not a finite float array of `shape` (a forward: `shape` leads)."""
    if not isinstance(raw, np.ndarray):
        raise LayerContractError(
            f"{name}.{rule} must return a numpy array, got {type(raw).__name__}"
        )
    if raw.dtype.kind != "f":
        what = {"b": "bools", "i": "integers", "u": "integers"}.get(raw.dtype.kind, "non-floats")
        raise LayerContractError(
            f"{name}.{rule} returns {what} (dtype {raw.dtype}): a layer's outputs and changes "
            "must be floats; integer values round every small move to 0, and the numerical "
            "gradients would be wrong or 0"
        )
    if raw.shape[: len(shape)] != shape or (rule != "forward" and raw.shape != shape):
        raise LayerContractError(f"{name}.{rule} must return shape {shape}, got {raw.shape}")
    if not np.all(np.isfinite(raw)):
        raise LayerContractError(f"{name}.{rule} returns nan or inf for finite inputs")
    return raw


def _compare(
    name: str, rule: str, found: AnyArray, y: AnyArray, after: AnyArray, size: float
) -> None:
    """Refuse a change that is not the difference of outputs, to the bound of the module text."""
    diff = after - y
    rows = diff.reshape(diff.shape[0], -1)
    scale = np.max(np.abs(rows), axis=1, initial=0.0).reshape(-1, *([1] * (diff.ndim - 1)))
    eps = float(np.finfo(np.result_type(after.dtype, found.dtype)).eps)
    bound = RTOL * scale + ROUNDING * eps * (np.abs(y) + np.abs(after))
    off = np.abs(found - diff)
    if np.all(off <= bound):
        return
    worst = np.unravel_index(int(np.argmax(off - bound)), off.shape)
    raise LayerContractError(
        f"{name}.{rule} is not the change of its forward: for a move of relative size {size:g} "
        f"of {y.shape[0]} rows it gives {float(found[worst]):.6g} at {tuple(map(int, worst))} "
        f"where forward(x + dx) - forward(x) is {float(diff[worst]):.6g}; {rule} must return "
        "f(x + dx) - f(x) for the move dx (the exact difference, not a derivative)"
    )
