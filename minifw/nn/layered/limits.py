"""The limits the layered engine works within: scratch memory, series orders, task sizes.

Each is read where it is used (`limits.NAME`), so a test can change it for one run.
"""

# Largest number of elements in one scratch array (8 MiB of float64).
ELEMENT_BUDGET = 1 << 20
# A layer of w output units is cut into isqrt(w // UNIT_SCALE) pieces (at least one), each a
# task of a gradient (its W columns and b entries): 2 for the book's 50 hidden units, 6 for
# 500. A piece has a fixed cost (its series are computed in parts of bounded memory, rounded
# up per piece), so the pieces grow with the layer, and their number more slowly.
UNIT_SCALE = 25
# Coordinates per task for parameters of layers without step moves.
GENERIC_TASK = 64
# Highest series order tried; larger moves take the exact route.
MAX_ORDER = 12
# A series is trusted when its last terms are below this fraction of its size.
SERIES_TOLERANCE = 2.0**-56
# Assumed convergence radius of a change's series in u, when choosing the order and judging
# the neglected terms (the book's networks measure about 1; the check decides per pair).
ORDER_RADIUS = 0.5
# Elements of one part of the channel route's block moves (its passes run over every example's
# channel per coordinate). Half of ELEMENT_BUDGET: 4 MiB arrays stay in cache, and the route ran
# about twice as fast as with 8 MiB ones on the 2-core benchmark machine.
CHANNEL_PART = 1 << 19
