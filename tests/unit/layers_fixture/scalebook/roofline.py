"""Planted: one half of a circle inside the formula layer."""
from scalebook import tables
