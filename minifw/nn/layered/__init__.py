"""The fast objective of layered models, split by route.

[`LayeredObjective`][minifw.nn.layered.LayeredObjective] (`objective.py`) answers the numerical
engine's changes for a model made of layers, by composing the layers' and the loss's own rules:
the step moves of a parameter (`steps.py`) become moves of the later layers' activations
(`moves.py`), evaluated as Taylor series for small steps (`series.py`) or exactly (`exact.py`),
within the limits of `limits.py`. It never names a concrete layer or loss: it asks for
capabilities ([`minifw.nn.layers`][minifw.nn.layers], [`minifw.nn.losses`][minifw.nn.losses]).
"""

from minifw.nn.layered.objective import LayeredObjective

__all__ = ["LayeredObjective"]
