"""One vocabulary of checks for user-supplied values: the attrs classes, the config and the CLI.

A `Check` is a test and the words for what it expects. The same object is an attrs validator
(`attrs.field(validator=COUNT)`), is what [`minifw.app.config`][minifw.app.config] applies to a TOML value
and what `minifw.app.cli` applies to a flag, so the three accept and refuse the same values and say so
in the same words. `bool` is neither a count nor a number.

Examples:
    >>> COUNT.accepts(3), COUNT.accepts(True), COUNT.accepts(-1)
    (True, False, False)
    >>> COUNT.message("steps", -1)
    'steps must be a non-negative integer, got steps=-1'
    >>> POSITIVE_INT.at_most(2**31, "2**31").message("batch_size", 2**70)
    'batch_size must be at most 2**31, got batch_size=1180591620717411303424'

"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, final

import attrs
import numpy as np

from minifw.errors import MinifwError, ValidationError

__all__ = [
    "BOOL",
    "COUNT",
    "POSITIVE_FLOAT",
    "POSITIVE_INT",
    "SEED",
    "SEED_NUMBER",
    "TEXT",
    "Check",
    "check_arrays",
    "check_written",
    "field_check",
    "is_int",
    "is_positive_float",
    "is_positive_int",
    "is_real",
    "keyword_fields",
    "none_as_zero",
    "one_of",
    "positive_float",
    "positive_int",
    "to_float",
]

# Seeds are what `numpy.random.SeedSequence` takes: non-negative integers, here below 2**128.
SEED_LIMIT = 2**128


def is_int(value: object) -> bool:
    """Whether `value` is an integer (Python or numpy), not a bool."""
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | np.integer)


def is_real(value: object) -> bool:
    """Whether `value` is a real number (Python or numpy int or float), not a bool."""
    return is_int(value) or isinstance(value, float | np.floating)


def is_positive_float(value: object) -> bool:
    """Whether `value` is a real number (not a bool) that is finite and > 0."""
    if not is_real(value):
        return False
    try:
        return bool(math.isfinite(value) and value > 0)  # type: ignore[arg-type,operator]
    except OverflowError:  # an int beyond float range
        return False


def is_positive_int(value: object) -> bool:
    """Whether `value` is an integer (not a bool) that is > 0."""
    return is_int(value) and int(value) > 0  # type: ignore[call-overload]


def _is_count(value: object) -> bool:
    return is_int(value) and int(value) >= 0  # type: ignore[call-overload]


def _is_seed_number(value: object) -> bool:
    return is_int(value) and 0 <= int(value) < SEED_LIMIT  # type: ignore[call-overload]


def _is_seed(value: object) -> bool:
    return value is None or isinstance(value, np.random.Generator) or _is_seed_number(value)


@final
@attrs.frozen
class Check:
    """A test of a value and the words for what it expects; also an attrs validator.

    `limit` is an upper bound on values that pass `test` (numbers), with its own words in
    the message. `error` is the exception raised by `require` and when used as a
    validator, and `subject` prefixes the name in its message (the Trainer says
    `"Trainer field "`).

    Examples:
        >>> import attrs
        >>> @attrs.frozen
        ... class Run:
        ...     steps: int = attrs.field(validator=COUNT)
        >>> Run(steps=2.5)
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: steps must be a non-negative integer, got steps=2.5

    """

    expected: str
    test: Callable[[object], bool] = attrs.field(repr=False)
    limit: int | None = attrs.field(default=None, kw_only=True)
    limit_words: str = attrs.field(default="", kw_only=True, repr=False)
    error: type[MinifwError] = attrs.field(default=ValidationError, kw_only=True, repr=False)
    subject: str = attrs.field(default="", kw_only=True, repr=False)

    def accepts(self, value: object) -> bool:
        """Whether the value passes (never raises)."""
        return self._passes_test(value) and not self._too_large(value)

    def expectation(self, value: object) -> str:
        """Return what was expected of this value: `expected`, or the limit it goes beyond.

        Examples:
            >>> POSITIVE_INT.at_most(2**31, "2**31").expectation(0)
            'a positive integer'
            >>> POSITIVE_INT.at_most(2**31, "2**31").expectation(2**70)
            'at most 2**31'

        """
        if self._passes_test(value) and self._too_large(value):
            return f"at most {self.limit_words}"
        return self.expected

    def message(self, name: str, value: object) -> str:
        """Return the refusal: `"<name> must be <expectation>, got <name>=<value>"`.

        Examples:
            >>> POSITIVE_FLOAT.message("eps", 10**400)  # a huge integer is not printed in full
            'eps must be a positive finite float, got eps=100000...0 (an integer of 401 digits)'

        """
        return f"{self.subject}{name} must be {self.expectation(value)}, got {name}={_shown(value)}"

    def require(self, name: str, value: object) -> None:
        """Raise `error` with `message` unless the value passes."""
        if not self.accepts(value):
            raise self.error(self.message(name, value))

    def __call__(self, _instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        """Attrs validator: `require`, named after the field's keyword."""
        self.require(attribute.alias or attribute.name, value)

    def raising(self, error: type[MinifwError], subject: str = "") -> Check:
        """Return the same check, raising `error` and naming the value `subject + name`.

        Examples:
            >>> from minifw.errors import ConfigError
            >>> COUNT.raising(ConfigError, "Trainer field ").require("eval_every", True)
            Traceback (most recent call last):
            ...
            minifw.errors.ConfigError: Trainer field eval_every must be a non-negative integer, got eval_every=True

        """
        return attrs.evolve(self, error=error, subject=subject)

    def or_none(self, *, say: bool = True) -> Check:
        """Return the same check, also accepting `None` (said in the message when `say`).

        `say=False` suits a None that stands for "not given", which nobody types.

        Examples:
            >>> POSITIVE_INT.or_none().expected
            'None or a positive integer'
            >>> POSITIVE_INT.or_none(say=False).expected
            'a positive integer'

        """
        test = self.test
        expected = f"None or {self.expected}" if say else self.expected
        return attrs.evolve(self, expected=expected, test=lambda v: v is None or test(v))

    def at_most(self, limit: int, words: str) -> Check:
        """Return the same check on numbers no larger than `limit` (written `words` in messages)."""
        return attrs.evolve(self, limit=limit, limit_words=words)

    @property
    def optional(self) -> bool:
        """Whether `None` passes (TOML, which has no null, writes such a field's None as 0)."""
        return self.accepts(None)

    def _passes_test(self, value: object) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError, OverflowError):
            return False

    def _too_large(self, value: object) -> bool:
        return self.limit is not None and value is not None and value > self.limit  # type: ignore[operator]


def _shown(value: object) -> str:
    """Return `repr(value)`, shortened for integers too long to read."""
    text = repr(value)
    if is_int(value) and len(text) > 40:
        return f"{text[:6]}...{text[-1]} (an integer of {len(text.lstrip('-'))} digits)"
    return text


def check_arrays(arrays: object, *, name: str = "params", why: str) -> dict[str, Any]:
    """Return `arrays` as a dict after checking each value is a writeable float64 array.

    The check every parameter mapping passes before it is changed in place, by an optimizer's
    update or by a numerical gradient's steps; `why` says which, in the message. Another dtype
    would round or truncate every change silently, and a read-only array cannot take one.

    Examples:
        >>> check_arrays({"w": np.zeros(2, dtype=np.float32)}, why="updated in place")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: params['w'] must be a float64 array (updated in place), got dtype float32

    """
    if not isinstance(arrays, Mapping):
        raise ValidationError(
            f"{name} must be a mapping of names to arrays, got {type(arrays).__name__}"
        )
    checked: dict[str, Any] = {}
    for key, value in arrays.items():
        if not isinstance(key, str):
            raise ValidationError(f"{name} must be keyed by strings, got the key {key!r}")
        if not isinstance(value, np.ndarray):
            raise ValidationError(
                f"{name}[{key!r}] must be a numpy array ({why}), got {type(value).__name__}"
            )
        if value.dtype != np.float64:
            raise ValidationError(
                f"{name}[{key!r}] must be a float64 array ({why}), got dtype {value.dtype}"
            )
        if not value.flags.writeable:
            raise ValidationError(
                f"{name}[{key!r}] must be a writeable array ({why}), got a read-only array"
            )
        checked[key] = value
    return checked


def describe(name: str, shape: tuple[int, ...], flat: int) -> str:
    """Return `name[i, j]` for flat index `flat` of an array of `shape`.

    Examples:
        >>> describe("W1", (784, 50), 51)
        'W1[1, 1]'

    """
    if not shape:
        return name
    pos = ", ".join(str(int(p)) for p in np.unravel_index(flat, shape))
    return f"{name}[{pos}]"


def check_params(params: object, *, name: str = "params", why: str) -> dict[str, Any]:
    """Return parameter arrays as a dict after checking they can be changed in place.

    The one check of parameter arrays, for the optimizers' updates and for numerical
    gradients' steps alike: each must be a writeable float64 `numpy.ndarray`
    ([`check_arrays`][minifw._validation.check_arrays]: an integer or float32 array cannot hold
    `x + h` for a small `h`, nor an update, without rounding it silently), with at least one
    element, all finite (a nan weight makes every prediction nan). `why` says, in the message,
    what the arrays are for.

    Examples:
        >>> check_params({"w": np.array([1, 2, 3])}, name="model params", why="stepped in place")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: model params['w'] must be a float64 array (stepped in place), got dtype int64
        >>> check_params({"w": np.array([0.0, np.nan])}, why="updated in place")
        Traceback (most recent call last):
        ...
        minifw.errors.ValidationError: params['w'] holds nan at w[1]: parameters must be finite

    """
    checked = check_arrays(params, name=name, why=why)
    for key, arr in checked.items():
        if arr.size == 0:
            raise ValidationError(f"{name}[{key!r}] is empty (shape {arr.shape})")
        if not np.isfinite(arr).all():
            flat = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValidationError(
                f"{name}[{key!r}] holds {float(arr.reshape(-1)[flat])!r} at "
                f"{describe(key, arr.shape, flat)}: parameters must be finite"
            )
    return checked


def one_of(*choices: object) -> Check:
    """Return a check that the value is one of `choices` (compared with `==`, types matter).

    Examples:
        >>> one_of("sample", "download").message("source", "web")
        "source must be one of 'sample', 'download', got source='web'"

    """
    return Check(
        "one of " + ", ".join(map(repr, choices)),
        lambda v: any(type(v) is type(c) and v == c for c in choices),
    )


POSITIVE_FLOAT = Check("a positive finite float", is_positive_float)
POSITIVE_INT = Check("a positive integer", is_positive_int)
COUNT = Check("a non-negative integer", _is_count)
BOOL = Check("True or False", lambda v: isinstance(v, bool))
TEXT = Check("a string", lambda v: isinstance(v, str))
SEED = Check("None, an integer in 0..2**128-1 or a numpy Generator", _is_seed)
# A seed written down as a number (in a file or on the command line).
SEED_NUMBER = Check("an integer in 0..2**128-1", _is_seed_number)

# The attrs validators of positive floats and integers, under the names the modules import.
positive_float = POSITIVE_FLOAT
positive_int = POSITIVE_INT


def to_float(value: float) -> float:
    """Attrs converter: an `int` becomes the equal `float`; anything else is left for the validator."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # beyond float range: left for the validator to refuse
            return value
    return value


# --- fields as a file or a command line writes them -----------------------------------------------


def keyword_fields(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """Return the `__init__` fields of an attrs class by keyword (their alias)."""
    return {a.alias: a for a in attrs.fields(cls) if a.init and a.alias is not None}


def field_check(field: attrs.Attribute[Any]) -> Check | None:
    """Return the `Check` that validates an attrs field, if its validator is one."""
    return field.validator if isinstance(field.validator, Check) else None


def none_as_zero(field: attrs.Attribute[Any]) -> bool:
    """Whether a file or a flag writes this field's None as 0.

    TOML and the command line have no null. Where None is a deliberate value (the default is not
    None) and 0 is not valid, 0 stands for None: `blas_threads = 0` is numpy's own setting.
    """
    check = field_check(field)
    return (
        check is not None
        and check.optional
        and not check.accepts(0)
        and field.default is not None
        and not isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
    )


def check_written(field: attrs.Attribute[Any], value: object) -> tuple[object, str | None]:
    """Convert a value a file or a flag gives for `field`; return it and any refusal.

    The refusal is what was expected, in the words of the field's `Check` (None when the
    value passes, or when the field's validator is not a Check and the class itself will judge).
    A converter's own [`MinifwError`][minifw.errors.MinifwError] propagates.

    Examples:
        >>> import attrs
        >>> @attrs.frozen
        ... class Options:
        ...     threads: int | None = attrs.field(default=1, validator=POSITIVE_INT.or_none())
        >>> check_written(attrs.fields(Options).threads, 0)
        (None, None)
        >>> check_written(attrs.fields(Options).threads, -2)
        (-2, '0 (for None) or a positive integer')

    """
    if none_as_zero(field) and COUNT.accepts(value) and value == 0:
        value = None
    converter = field.converter
    if callable(converter) and not isinstance(converter, attrs.Converter):
        try:
            value = converter(value)
        except MinifwError:
            raise
        except (TypeError, ValueError, ArithmeticError):
            return value, None  # left for the class itself to refuse
    check = field_check(field)
    if check is None or check.accepts(value):
        return value, None
    words = check.expectation(value)
    if words.startswith("None or "):
        rest = words.removeprefix("None or ")
        words = f"0 (for None) or {rest}" if none_as_zero(field) else rest
    return value, words
