"""The numerical engine: objectives, difference schemes and where their tasks run.

It knows objectives only (scalar functions of named parameter arrays that report their own
changes), never losses, layers, models or training. One concept a file:

- what is differentiated: `objective` (the protocols, the split into tasks), `perturbation`
  (any function, one coordinate at a time);
- how: `differentiator` (the abstract scheme and its entry points), `stencil`, `schemes/` (one
  scheme a file), `engine` (a stencil through an objective's changes) and the step policies
  `fixed_step`, `auto_step` (`h="auto"`), `imaginary_step` (complex steps);
- what comes back: `results` (`Estimate`), and `method` (`GradientMethod`, the base of every way
  to get gradients); where it runs: `workers`; shared pieces: `rounding`, `checks`.
"""
