"""Planted: __import__ by name inside a function, going up."""


def f():
    return __import__("scalebook.hlo")
