"""Figures (functions that return a matplotlib Figure) and interactive explorers (ipywidgets)."""

from . import plotting, widgets
from .widgets import (CompletionExplorer, EMStepper, FlowLayerExplorer, InterpolationExplorer, KDEBandwidthExplorer,
                      LatentExplorer)

__all__ = ["CompletionExplorer", "EMStepper", "FlowLayerExplorer", "InterpolationExplorer", "KDEBandwidthExplorer", "LatentExplorer",
           "plotting", "widgets"]
