"""Planted: a figure package."""
