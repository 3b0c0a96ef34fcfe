"""Planted: a program."""
