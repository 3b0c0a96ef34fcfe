"""Planted: a registry module that imports the whole package."""
import scalebook
