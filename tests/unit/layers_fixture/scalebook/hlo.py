"""Planted: measurement."""
