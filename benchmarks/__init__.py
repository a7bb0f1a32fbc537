"""Threadline benchmarks: the performance goals of design §8, measured over loopback fakes.

``python -m benchmarks`` runs every measure (``--quick`` for small sizes, ``--only NAME`` for
one) and prints one Markdown table: each goal beside the measured value, a pass/fail mark, and
the conditions it was measured under. Each measure runs in its own child process so that CPU
time, memory and event-loop state of one never leak into another.

Measures (one module each): ``latency``, ``first_edit``, ``cpu``, ``rate_limits``, ``memory``,
``context_load``.
"""
