"""The network parts: layers, losses, models, and the objectives and checks built from them.

Each part owns its rules: a layer says how its input and its parameters move its output
([`layers`][minifw.nn.layers]), a loss how a move of its predictions moves its value
([`losses`][minifw.nn.losses]). The layered objective ([`layered`][minifw.nn.layered]) composes
those rules for the numerical engine; [`models`][minifw.nn.models] hold parameters and give
objectives, with a [`penalty`][minifw.nn.penalty] of their parameters (weight decay) where they
have one; [`Backprop`][minifw.nn.backprop.Backprop] is the exact gradient as a gradient method;
[`gradcheck`][minifw.nn.gradcheck] compares the two. The wing imports the engine, never training
or the front doors.
"""
