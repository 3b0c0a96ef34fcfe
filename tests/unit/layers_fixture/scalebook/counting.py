"""Planted: a relative import of a program (layer 3) from a formula."""
from . import model
