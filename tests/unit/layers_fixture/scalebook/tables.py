"""Planted: the other half of the circle, inside a function."""


def f():
    from scalebook import roofline
    return roofline
