r"""A layered model's `params`: the live arrays of its layers, by their model-wide names.

`net.params["W1"]` *is* the first affine layer's `W`: training updates it in place and
predictions read it. Assigning an array replaces the layer's array (after checking it), so the
new values take effect everywhere; an assignment that cannot take effect is refused with a
message saying how to set values in place (`net.params["W1"][...] = values`), never silently
ignored. Names cannot be added or removed: a model's parameters are fixed when it is built.

[`check_own_arrays`][minifw.nn.models.params.check_own_arrays] is the check a model applies
when it is assembled: each layer's `params` gives its own arrays (the same objects every time),
and no two parameters share memory.

Examples:
    >>> import numpy as np
    >>> from minifw import TwoLayerNet
    >>> net = TwoLayerNet(input_size=2, hidden_size=2, output_size=2, seed=0)
    >>> net.params["b2"] is net.layers[2].b
    True
    >>> net.params["b2"] = np.array([1.0, -1.0])          # takes effect in the layer
    >>> net.layers[2].b.tolist()
    [1.0, -1.0]
    >>> net.params["b2"] = np.zeros(3)
    Traceback (most recent call last):
    ...
    minifw.errors.ValidationError: params['b2'] must keep its shape (2,), got an array of shape (3,); set values in place with params['b2'][...] = values

"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import final

import numpy as np

from minifw._validation import describe
from minifw.errors import ValidationError
from minifw.nn.layers.layer import Layer
from minifw.typing import FloatArray

__all__ = ["LiveParams", "check_own_arrays"]


def _in_place(name: str) -> str:
    return f"set values in place with params[{name!r}][...] = values"


@final
class LiveParams(MutableMapping[str, FloatArray]):
    """The parameters of a stack of layers: `names` maps each name to `(layer index, local name)`."""

    __slots__ = ("_layers", "_names")

    def __init__(self, layers: Sequence[Layer], names: Mapping[str, tuple[int, str]]) -> None:
        self._layers = tuple(layers)
        self._names = dict(names)

    def __getitem__(self, name: str) -> FloatArray:
        k, local = self._names[name]
        return self._layers[k].params[local]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name!r}: array{self[name].shape}" for name in self._names)
        return f"LiveParams({{{shapes}}})"

    def __setitem__(self, name: str, value: FloatArray) -> None:
        """Replace the layer's array by `value` (checked: an array of the same shape, finite)."""
        if name not in self._names:
            raise ValidationError(
                f"the model has no parameter {name!r} (it has {sorted(self._names)}): a "
                "model's parameters are its layers' arrays, fixed when it is built"
            )
        current = self[name]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiuc":
            got = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
            raise ValidationError(
                f"params[{name!r}] must be assigned a numeric numpy array, got {got}; "
                + _in_place(name)
            )
        if value.shape != current.shape:
            raise ValidationError(
                f"params[{name!r}] must keep its shape {current.shape}, got an array of shape "
                f"{value.shape}; " + _in_place(name)
            )
        if not np.all(np.isfinite(value)):
            flat = int(np.flatnonzero(~np.isfinite(value.reshape(-1)))[0])
            raise ValidationError(
                f"params[{name!r}] holds {value.reshape(-1)[flat].item()!r} at "
                f"{describe(name, value.shape, flat)}: parameters must be finite"
            )
        for other in self._names:
            if other != name and np.may_share_memory(value, self[other]) and np.shares_memory(
                value, self[other]
            ):
                raise ValidationError(
                    f"params[{name!r}] would share memory with params[{other!r}]: tied weights "
                    "are not supported (each would get only its own gradient); assign a copy"
                )
        k, local = self._names[name]
        layer = self._layers[k]
        if value is current:
            return
        try:
            setattr(layer, local, value)
        except (AttributeError, TypeError, ValueError) as err:
            raise ValidationError(
                f"{type(layer).__name__} cannot take a new array for {local!r} ({err}); "
                + _in_place(name)
            ) from err
        if layer.params.get(local) is not value:
            setattr(layer, local, current)
            raise ValidationError(
                f"{type(layer).__name__} does not keep a new array for {local!r}; "
                + _in_place(name)
            )

    def __delitem__(self, name: str) -> None:
        raise ValidationError(
            f"params[{name!r}] cannot be removed: a model's parameters are fixed when it is built"
        )


def check_own_arrays(layers: Sequence[Layer], names: Mapping[str, tuple[int, str]]) -> None:
    """Refuse layers whose `params` are not their own arrays, and parameters that share memory.

    Numerical gradients step a layer's arrays in place and optimizers update them in place: a
    layer whose `params` returns copies would never see the steps (its gradient would be zero,
    silently), and one array under two names (a layer used twice) would get only one name's
    update.
    """
    for k, layer in enumerate(layers):
        first, again = layer.params, layer.params
        for local, arr in first.items():
            if again.get(local) is not arr:
                raise ValidationError(
                    f"layer {k} ({type(layer).__name__}).params must return the layer's own "
                    f"arrays (the same objects each time), got a new array for {local!r} on each "
                    "call: gradients and updates change the arrays in place"
                )
            if not isinstance(arr, np.ndarray):
                raise ValidationError(
                    f"layer {k} ({type(layer).__name__}).params[{local!r}] must be a numpy "
                    f"array, got {type(arr).__name__}"
                )
    arrays = {name: layers[k].params[local] for name, (k, local) in names.items()}
    for (a, x), (b, y) in itertools.combinations(arrays.items(), 2):
        if np.may_share_memory(x, y) and np.shares_memory(x, y):
            raise ValidationError(
                f"parameters {a} and {b} share memory (one layer used twice?): tied weights are "
                "not supported, each would get only its own gradient and update; give each layer "
                "its own arrays (a copy)"
            )
