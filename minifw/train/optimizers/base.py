r"""The optimizer contract: `Optimizer.update` checks, applies one subclass's rule and commits.

[`Optimizer`][minifw.train.optimizers.base.Optimizer] does everything the rules share: it checks the
parameters and gradients, keeps each parameter's state (created at zero the first time its name is
seen), counts the steps, applies the subclass's
[`apply`][minifw.train.optimizers.base.Optimizer.apply] to copies and writes back only when every
new value is finite. That is two halves: [`propose`][minifw.train.optimizers.base.Optimizer.propose]
works the step out and changes nothing, [`commit`][minifw.train.optimizers.base.Optimizer.commit]
writes it, whole, with Ctrl-C held back
([`deferred_signals`][minifw.train.interrupts.deferred_signals]), so an interrupt never leaves some
arrays updated and others not. The state travels as plain arrays
([`state`][minifw.train.optimizers.base.Optimizer.state],
[`load_state`][minifw.train.optimizers.base.Optimizer.load_state]), so a checkpoint can carry it;
slots that can never be negative (running sums and means of squares) say so in
`nonnegative_slots`, and a state that breaks that is refused.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import ClassVar, Final, TypeAlias, final

import attrs
import numpy as np

from minifw._validation import check_params
from minifw.errors import TrainingError, ValidationError
from minifw.train.interrupts import deferred_signals
from minifw.typing import AnyArray, ArrayLike, FloatArray

__all__ = ["MAX_STEP", "CheckedParams", "Optimizer", "OptimizerState", "Update"]

OptimizerState: TypeAlias = dict[str, AnyArray]
"""An optimizer's state as plain arrays, savable with `np.savez` (no pickle).

`"step"` (the number of updates, an int64 scalar) and one float64 array per slot and parameter,
keyed `"<slot>.<parameter name>"`.
"""

_STEP = "step"

MAX_STEP: Final = 2**62
"""The largest step count an optimizer's state or a checkpoint may hold.

Far beyond any run, and low enough that `beta ** step` and int64 arithmetic stay sane."""


def _refuse_shared(params: Mapping[str, FloatArray]) -> None:
    """Refuse two names for one array (or overlapping views): each would get only its own update."""
    arrays = list(params.items())
    for i, (a, x) in enumerate(arrays):
        for b, y in arrays[i + 1 :]:
            if np.may_share_memory(x, y) and np.shares_memory(x, y):
                raise ValidationError(
                    f"params[{a!r}] and params[{b!r}] share memory: each name would be updated "
                    "on its own and one update would overwrite the other; give each parameter "
                    "its own array (tied weights are not supported)"
                )


@final
class CheckedParams(dict[str, FloatArray]):
    """Parameter arrays already checked (writeable float64 arrays, not empty, finite, unshared).

    [`Optimizer.propose`][minifw.train.optimizers.Optimizer.propose] takes them without checking
    them again (a [`TrainingStep`][minifw.train.step.TrainingStep] checks once per step); any
    other mapping is checked there.

    Examples:
        >>> import numpy as np
        >>> params = CheckedParams.check({"w": np.zeros(2)})
        >>> sorted(params)
        ['w']

    """

    @classmethod
    def check(cls, params: object, *, name: str = "params") -> CheckedParams:
        """Check `params` (writeable float64 arrays, finite, not empty, no two sharing memory) and mark them checked."""
        checked = check_params(params, name=name, why="updated in place")
        _refuse_shared(checked)
        return cls(checked)


def _check_grads(
    params: Mapping[str, FloatArray], grads: Mapping[str, ArrayLike]
) -> dict[str, FloatArray]:
    """Return read-only float64 copies of `grads`, one per parameter, of matching shapes."""
    if not isinstance(grads, Mapping):
        raise ValidationError(
            f"grads must be a mapping of names to arrays, got {type(grads).__name__}"
        )
    missing, extra = set(params) - set(grads), set(grads) - set(params)
    if missing or extra:
        raise ValidationError(
            f"grads must have the parameters' names {sorted(params)}, got {sorted(map(str, grads))}"
        )
    checked: dict[str, FloatArray] = {}
    for name, param in params.items():
        raw = np.asarray(grads[name])
        if raw.dtype.kind not in "iuf":  # a bool is not a slope
            raise ValidationError(f"grads[{name!r}] must hold real numbers, got dtype {raw.dtype}")
        if raw.shape != param.shape:
            raise ValidationError(
                f"grads[{name!r}] must have the parameter's shape {param.shape}, got {raw.shape}"
            )
        grad = np.array(raw, dtype=np.float64)  # a copy: the update rule may not change it
        grad.flags.writeable = False
        checked[name] = grad
    return checked


@attrs.define
class Optimizer(abc.ABC):
    r"""Updates parameter arrays in place from their gradients, one step at a time.

    [`update`][minifw.train.optimizers.Optimizer.update] does the shared work: it checks the parameters
    (writeable float64 arrays) and the gradients (the same names and shapes), creates the state of a
    parameter the first time it sees its name (every slot starts at zero), counts the step, applies
    the rule to copies, and writes parameters and state back only when every new value is finite. So
    a failed update leaves both exactly as they were.

    Examples:
        A subclass names its per-parameter state arrays in `slots` and implements one hook,
        [`apply`][minifw.train.optimizers.Optimizer.apply], the rule for one parameter array; its
        hyperparameters are its attrs fields, including `learning_rate`:

        >>> import attrs, numpy as np
        >>> from typing import final
        >>> @final
        ... @attrs.define
        ... class SignSGD(Optimizer):
        ...     learning_rate: float = 0.1
        ...     slots = ()
        ...     def apply(self, param, grad, state, step):
        ...         param -= self.learning_rate * np.sign(grad)
        >>> params = {"w": np.array([1.0, 1.0])}
        >>> SignSGD().update(params, {"w": np.array([3.0, -0.5])})
        >>> params["w"]
        array([0.9, 1.1])

    """

    slots: ClassVar[tuple[str, ...]]
    """The names of the state arrays kept for each parameter (each starts as zeros of its shape)."""

    nonnegative_slots: ClassVar[tuple[str, ...]] = ()
    """The slots that can never hold a negative value (sums or means of squares): a state that
    holds one is refused by [`load_state`][minifw.train.optimizers.Optimizer.load_state]."""

    _step: int = attrs.field(default=0, init=False, repr=False, eq=False)
    _state: dict[str, dict[str, FloatArray]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )

    @property
    @abc.abstractmethod
    def learning_rate(self) -> float:
        r"""The step size \(\eta\) (every optimizer has one; subclasses make it a field)."""

    @abc.abstractmethod
    def apply(
        self, param: FloatArray, grad: FloatArray, state: dict[str, FloatArray], step: int
    ) -> None:
        """Apply the rule to one parameter array: change `param` and `state` in place.

        `param` and the arrays of `state` (one per name in `slots`) are copies that
        [`update`][minifw.train.optimizers.Optimizer.update] commits afterwards; `grad` is read-only;
        `step` counts the updates from 1 (this one included). This is the one method a new optimizer
        implements.
        """

    @property
    def steps(self) -> int:
        """The number of updates applied so far."""
        return self._step

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, ArrayLike]) -> None:
        """Move every array of `params` one step against `grads`, in place.

        `grads` has the same names and shapes as `params`. Raises
        [`ValidationError`][minifw.errors.ValidationError] for parameters or gradients of the wrong
        kind (or two parameters sharing memory) and
        [`TrainingError`][minifw.errors.TrainingError] when a new value would not be finite; in
        both cases nothing changed. The same as `commit(propose(params, grads))`.

        Examples:
            >>> from minifw.train.optimizers import SGD
            >>> params = {"w": np.array([1.0])}
            >>> SGD(learning_rate=0.5).update(params, {"w": [0.2]})
            >>> params["w"]
            array([0.9])

        """
        self.commit(self.propose(params, grads))

    def propose(self, params: Mapping[str, FloatArray], grads: Mapping[str, ArrayLike]) -> Update:
        """Work out the next step for `params` and `grads` and check it; change nothing.

        The parameters are checked unless they are [`CheckedParams`][minifw.train.optimizers.CheckedParams];
        the gradients always are. The rule runs on copies, and every new value and state array
        must be finite. Raises as [`update`][minifw.train.optimizers.Optimizer.update] does.

        Examples:
            >>> from minifw.train.optimizers import SGD
            >>> params, optimizer = {"w": np.array([1.0])}, SGD(learning_rate=0.5)
            >>> proposal = optimizer.propose(params, {"w": [0.2]})
            >>> params["w"], proposal.values["w"]      # nothing changed yet
            (array([1.]), array([0.9]))
            >>> optimizer.commit(proposal)
            >>> params["w"], optimizer.steps
            (array([0.9]), 1)

        """
        checked = params if isinstance(params, CheckedParams) else CheckedParams.check(params)
        grad_arrays = _check_grads(checked, grads)
        step = self._step + 1
        new_params: dict[str, FloatArray] = {}
        new_state = dict(self._state)
        for name, param in checked.items():
            slots = self._slots_for(name, param)
            new_param = param.copy()
            # Overflow and nan are caught below, by name, rather than as numpy warnings.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self.apply(new_param, grad_arrays[name], slots, step)
            for key, value in [("", new_param), *slots.items()]:
                if not np.all(np.isfinite(value)):
                    where = f"the {key!r} state of {name}" if key else name
                    raise TrainingError(
                        f"{type(self).__name__}'s update of {where} is not finite "
                        "(nothing was changed)"
                    )
            new_params[name] = new_param
            new_state[name] = slots
        return Update(
            targets=dict(checked), values=new_params, state=new_state, step=step, base=self._state
        )

    def commit(self, update: Update) -> None:
        """Write a [`propose`][minifw.train.optimizers.Optimizer.propose]d step: parameters, state, count.

        All of it or, if it was not proposed by this optimizer at its current step, none of it (a
        [`ValidationError`][minifw.errors.ValidationError]). SIGINT and SIGTERM are held back
        while it writes ([`deferred_signals`][minifw.train.interrupts.deferred_signals]).
        """
        if update.step != self._step + 1 or update.base is not self._state:
            raise ValidationError(
                f"this update was proposed for step {update.step} but {type(self).__name__} is "
                f"at step {self._step}: propose again"
            )
        with deferred_signals():
            # Checked when proposed: writing into float64 arrays of the same shapes cannot fail.
            for name, value in update.values.items():
                update.targets[name][...] = value
            self._state = update.state
            self._step = update.step

    def _slots_for(self, name: str, param: FloatArray) -> dict[str, FloatArray]:
        """Return copies of the state of `name`, or zeros when it is new."""
        current = self._state.get(name)
        if current is None:
            return {slot: np.zeros_like(param) for slot in self.slots}
        shape = next(iter(current.values())).shape if current else param.shape
        if shape != param.shape:
            raise ValidationError(
                f"params[{name!r}] has shape {param.shape} but this {type(self).__name__} holds "
                f"state of shape {shape} for it (one optimizer per model)"
            )
        return {slot: value.copy() for slot, value in current.items()}

    def state(self) -> OptimizerState:
        """Return the state as plain arrays (copies): the step count and every slot array.

        Examples:
            >>> from minifw.train.optimizers import AdaGrad
            >>> optimizer = AdaGrad()
            >>> optimizer.update({"b": np.zeros(2)}, {"b": np.array([3.0, 4.0])})
            >>> optimizer.state()
            {'step': array(1), 'h.b': array([ 9., 16.])}

        """
        state: OptimizerState = {_STEP: np.array(self._step, dtype=np.int64)}
        for name, slots in self._state.items():
            state.update({f"{slot}.{name}": value.copy() for slot, value in slots.items()})
        return state

    def load_state(
        self, state: Mapping[str, ArrayLike], *, params: Mapping[str, FloatArray] | None = None
    ) -> None:
        """Restore a state returned by `state`, after checking all of it.

        With `params`, the state must also fit those parameters (names and shapes). The step count,
        the names, shapes, dtypes (float64) and finiteness of every array are checked before
        anything changes; a bad state raises [`ValidationError`][minifw.errors.ValidationError]
        naming the key.

        Examples:
            >>> from minifw.train.optimizers import Adam
            >>> optimizer = Adam()
            >>> optimizer.load_state({"step": np.array(2), "m.w": np.ones(3)})
            Traceback (most recent call last):
            ...
            minifw.errors.ValidationError: state of Adam lacks 'v.w' (every parameter needs m, v)

        """
        step, slots = _parse_state(self, state)
        if params is not None:
            _check_against_params(self, slots, check_params(params, why="updated in place"))
        if step == 0 and slots:
            raise ValidationError(
                f"state of {type(self).__name__} has step 0 but holds arrays for "
                f"{sorted(slots)}: state exists only after a step"
            )
        self._step = step
        self._state = slots


def _parse_state(
    optimizer: Optimizer, state: Mapping[str, ArrayLike]
) -> tuple[int, dict[str, dict[str, FloatArray]]]:
    """Check the keys, step and arrays of an exported state and return them, copied."""
    kind = type(optimizer).__name__
    if not isinstance(state, Mapping):
        raise ValidationError(f"state must be a mapping of arrays, got {type(state).__name__}")
    if _STEP not in state:
        raise ValidationError(f"state of {kind} lacks 'step' (the number of updates)")
    raw_step = np.asarray(state[_STEP])
    if raw_step.shape != () or raw_step.dtype.kind not in "iu":
        raise ValidationError(
            f"state['step'] must be an integer scalar, got dtype {raw_step.dtype} "
            f"and shape {raw_step.shape}"
        )
    step = int(raw_step)
    if not 0 <= step <= MAX_STEP:
        raise ValidationError(f"state['step'] must be between 0 and 2**62, got {step}")
    slots: dict[str, dict[str, FloatArray]] = {}
    for key, raw in state.items():
        if key == _STEP:
            continue
        slot, dot, name = str(key).partition(".")
        if not dot or not name or slot not in optimizer.slots:
            expected = ", ".join(f"'{s}.<name>'" for s in optimizer.slots) or "no other keys"
            raise ValidationError(
                f"state of {kind} has an unknown key {key!r}; expected 'step' and {expected}"
            )
        value = np.asarray(raw)
        if value.dtype != np.float64:
            raise ValidationError(
                f"state[{key!r}] must be a float64 array, got dtype {value.dtype}"
            )
        if not np.all(np.isfinite(value)):
            raise ValidationError(f"state[{key!r}] holds non-finite values")
        if slot in optimizer.nonnegative_slots and np.any(value < 0):
            raise ValidationError(
                f"state[{key!r}] holds negative values (as low as {float(value.min()):.3g}); "
                f"{kind}'s {slot} is built from squares and is never negative"
            )
        slots.setdefault(name, {})[slot] = value.copy()
    for name, arrays in slots.items():
        for slot in optimizer.slots:
            if slot not in arrays:
                raise ValidationError(
                    f"state of {kind} lacks '{slot}.{name}' (every parameter needs "
                    f"{', '.join(optimizer.slots)})"
                )
        shapes = {slot: arrays[slot].shape for slot in optimizer.slots}
        if len(set(shapes.values())) > 1:
            raise ValidationError(
                f"state of {kind} for {name} has arrays of different shapes {shapes}"
            )
        slots[name] = {slot: arrays[slot] for slot in optimizer.slots}  # in slot order
    return step, slots


def _check_against_params(
    optimizer: Optimizer,
    slots: Mapping[str, Mapping[str, FloatArray]],
    params: Mapping[str, FloatArray],
) -> None:
    """Check that a parsed state belongs to `params` (names and shapes)."""
    kind = type(optimizer).__name__
    unknown = sorted(set(slots) - set(params))
    if unknown:
        raise ValidationError(
            f"state of {kind} holds parameters {unknown} that are not among {sorted(params)}"
        )
    for name, arrays in slots.items():
        for slot, value in arrays.items():
            if value.shape != params[name].shape:
                raise ValidationError(
                    f"state['{slot}.{name}'] has shape {value.shape} but params[{name!r}] has "
                    f"shape {params[name].shape}"
                )
    missing = sorted(set(params) - set(slots))
    if slots and missing:
        raise ValidationError(f"state of {kind} lacks the parameters {missing}")



@final
@attrs.frozen(eq=False)
class Update:
    """One optimizer step, worked out and checked by [`propose`][minifw.train.optimizers.Optimizer.propose], not yet written.

    `values` are the new parameter values for the arrays in `targets`, `state` the optimizer's
    state after the step and `step` its update count then;
    [`commit`][minifw.train.optimizers.Optimizer.commit] writes them. `base` is the state it was
    worked out from (a commit after another one, or after `load_state`, is refused).
    """

    targets: dict[str, FloatArray]
    values: dict[str, FloatArray]
    state: dict[str, dict[str, FloatArray]]
    step: int
    base: dict[str, dict[str, FloatArray]] = attrs.field(repr=False)
