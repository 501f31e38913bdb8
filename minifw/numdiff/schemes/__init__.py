"""The built-in difference schemes, one a file, each named after its module.

A fixed-stencil scheme is a few lines: a final subclass of
[`Differentiator`][minifw.numdiff.differentiator.Differentiator] whose `stencil` property returns
a [`Stencil`][minifw.numdiff.stencil.Stencil] (see [`central`][minifw.numdiff.schemes.central]);
the engine does the rest. [`richardson`][minifw.numdiff.schemes.richardson] brings its own step
policy.
"""
