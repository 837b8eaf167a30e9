"""The pure core: data and decisions, no I/O.

Nothing in this package opens a socket, a file or a process (the one
exception is reading the haproxy.cfg template). Every function here can be
called in a unit test with plain values and gives the same answer every time:
the model, input validation, the planner (desired + observed -> actions), the
healing rules (crash back-off, hung workers) and the haproxy.cfg renderer.
``tests/unit/test_layers.py`` checks that no module here imports an edge.
"""
