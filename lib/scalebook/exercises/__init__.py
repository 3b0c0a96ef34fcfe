"""Exercise definitions, one module per chapter: chNN.py registers its questions."""
