"""The numerical engine: objectives, difference schemes and where their tasks run.

It knows objectives only (scalar functions of named parameter arrays that report their own
changes), never losses, layers, models or training.
"""
