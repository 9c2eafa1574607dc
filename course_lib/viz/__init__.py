"""Figures (functions that return a matplotlib Figure) and interactive explorers (ipywidgets)."""

from . import plotting, widgets
from .widgets import (ClassConditionalExplorer, CompletionExplorer, EMStepper, FlowLayerExplorer, InterpolationExplorer,
                      KDEBandwidthExplorer, LatentExplorer, ParallelLinesExplorer, SeedInterpolationExplorer)

__all__ = ["ClassConditionalExplorer", "CompletionExplorer", "EMStepper", "FlowLayerExplorer", "InterpolationExplorer",
           "KDEBandwidthExplorer", "LatentExplorer", "ParallelLinesExplorer", "SeedInterpolationExplorer", "plotting", "widgets"]
