"""Planted: a figure."""
