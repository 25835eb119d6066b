"""Click parameter types that refuse what would silently give garbage: NaN or infinite numbers."""

from __future__ import annotations

import math

import click


class FiniteFloat(click.ParamType):
    """A float that must be finite (``nan``/``inf`` are usage errors), optionally within [lo, hi]."""

    name = "float"

    def __init__(self, lo: float | None = None, hi: float | None = None):
        self.lo, self.hi = lo, hi

    def convert(self, value, param, ctx):
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number (NaN and infinity give black or noise images)",
                          param, ctx)
        if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi):
            self.fail(f"{number} is outside [{self.lo}, {self.hi}]", param, ctx)
        return number


FINITE = FiniteFloat()
