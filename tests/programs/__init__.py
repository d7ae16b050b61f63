"""Scripts run as separate processes by the tests, and importable as `programs.NAME`.

A package, so that a script here run as ``python tests/programs/orders.py`` gets the same
saved names (``programs.orders:...``) as the test process that imports ``programs.orders``
(``tests`` is on ``pythonpath``).
"""
