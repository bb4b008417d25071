"""Command-line number types: zero and negative counts, rates and sizes are errors, never defaults.

Standard library only, so that the command line parses (and ``--help`` answers) before TensorFlow is imported.
"""

import argparse
import math


def _number(convert, minimum, strict, what):
    """An argparse type: ``convert(text)``, finite, ``> minimum`` (``strict``) or ``>= minimum``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = what.replace(" ", "_")
    return parse


positive_int = _number(int, 1, False, "a positive integer")
positive_float = _number(float, 0, True, "a positive number")
non_negative_float = _number(float, 0, False, "a number >= 0")


def check_positive_int(value, what, why=""):
    """The library's own check of a count: ``value`` must be an ``int`` >= 1 (``True`` is not a count); otherwise
    ``ValueError: {what} must be a positive integer{why}, got {value!r}``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer{why}, got {value!r}")


def check_val_fraction(value):
    """``--val-fraction``: a number strictly between 0 and 1 (the share of each class held out for validation)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"--val-fraction must be between 0 and 1 (exclusive), got {value!r}.")
