"""muxtui benchmarks: ``make bench`` (``python -m bench``); see bench/__main__.py.

Every case runs in a fresh subprocess (``python -m bench.cases CASE ...``) so that CPU time and
peak RSS belong to that case alone; the fake provider server runs in the parent process.
"""
