"""Benchmarks of outagewatch's probe engine beside Prometheus's blackbox_exporter (issue 9).

Not part of the test suite: ``make bench`` (or ``python -m bench --help``) runs them and
prints one table; ``docs/BENCHMARKS.md`` explains the method and the figures.
"""
