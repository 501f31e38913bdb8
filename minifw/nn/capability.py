"""Whether an object declares a capability (a protocol of methods), decided once per class.

`isinstance` against a runtime-checkable protocol inspects every member of the protocol on each
call, which costs microseconds; the layered engine asks for every move through every layer, and
that added up to a tenth of a fast gradient. A class either has the methods or not, so the answer
is kept per (class, protocol).

Examples:
    >>> from minifw.nn.layers import Elementwise, Linear, Sigmoid
    >>> declares(Sigmoid(), Elementwise), declares(Sigmoid(), Linear)
    (True, False)

"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar

__all__ = ["declares"]

_T = TypeVar("_T")


@functools.cache
def _class_declares(cls: type, capability: type) -> bool:
    return issubclass(cls, capability)


def declares(obj: object, capability: Callable[..., _T]) -> TypeGuard[_T]:
    """Return `isinstance(obj, capability)` for a protocol of methods, cached per class.

    `capability` is a protocol class. It is typed as what it would construct because mypy does
    not let a protocol (an abstract class) stand where `type[T]` is expected.
    """
    cls: Any = type(obj)
    found: Any = capability
    return _class_declares(cls, found)
