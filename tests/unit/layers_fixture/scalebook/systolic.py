"""Planted: a name the checker cannot read."""
import importlib


def f(name):
    return importlib.import_module(name)
