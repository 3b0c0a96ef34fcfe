"""Interactive explorers (ipywidgets), one module per chapter, each with a static fallback figure."""
