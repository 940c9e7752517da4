"""mltrack: run and track machine-learning experiments from the browser or a script."""

__version__ = "0.1.0"
