"""Figures (functions that return a matplotlib Figure) and interactive explorers (ipywidgets)."""

from . import plotting, widgets
from .widgets import (ClassConditionalExplorer, CompletionExplorer, EMStepper, FlowLayerExplorer, InterpolationExplorer,
                      KDEBandwidthExplorer, LangevinExplorer, LatentExplorer, ParallelLinesExplorer,
                      ReverseProcessExplorer, SeedInterpolationExplorer)

__all__ = ["ClassConditionalExplorer", "CompletionExplorer", "EMStepper", "FlowLayerExplorer", "InterpolationExplorer",
           "KDEBandwidthExplorer", "LangevinExplorer", "LatentExplorer", "ParallelLinesExplorer",
           "ReverseProcessExplorer", "SeedInterpolationExplorer", "plotting", "widgets"]
