"""A library with a data file, read through the runfiles."""

import sys


def greet():
    """Says hello from this Python's version."""
    return "Hello from Python %d.%d in a rules_img image" % sys.version_info[:2]
