"""Planted package root (layer test fixture)."""
