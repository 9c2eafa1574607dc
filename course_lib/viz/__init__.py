"""Figures (functions that return a matplotlib Figure) and interactive explorers (ipywidgets)."""

from . import plotting, widgets

__all__ = ["plotting", "widgets"]
