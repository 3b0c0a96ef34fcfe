"""Planted: importlib by a literal name, going up."""
import importlib

importlib.import_module("scalebook.bench")
