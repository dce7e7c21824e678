"""The command line: `main` (cli/main.py) with one module per command; the shared options are declared once
in cli/options.py."""

from .main import app, main

__all__ = ["app", "main"]
