"""The network parts: layers, losses, models, and the objectives and checks built from them.

Each part owns its rules: a layer says how its input and its parameters move its output, a loss
how a move of its predictions moves its value. The layered objective composes those rules for
the numerical engine; it imports the engine, never training or the front doors.
"""
