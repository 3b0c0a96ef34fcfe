"""Planted: an f-string name through a variable, going up."""
import importlib


def f(k):
    name = f"scalebook.explore.{k}"
    return importlib.import_module(name)
