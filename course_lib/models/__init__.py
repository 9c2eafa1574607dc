"""Every model of the course, one module per family, all speaking the protocol of ``models.base``."""

from . import mixtures, ppca
from .autoencoders import LinearAutoencoder
from .autoregressive import FVSBN, MADE, NADE, AutoregressiveImageModel, CausalConvSequence, GatedPixelCNN, PixelCNN
from .base import DensityModel
from .factorized import FactorizedCategorical
from .gaussian import Gaussian
from .histogram import HistogramDensity
from .kde import GaussianKDE, select_bandwidth
from .mixtures import GaussianMixture
from .ppca import PPCA
from .vae import VAE

__all__ = ["AutoregressiveImageModel", "CausalConvSequence", "DensityModel", "FVSBN", "FactorizedCategorical",
           "Gaussian", "GaussianKDE", "GaussianMixture", "GatedPixelCNN", "HistogramDensity", "LinearAutoencoder",
           "MADE", "NADE", "PPCA", "PixelCNN", "VAE", "mixtures", "ppca", "select_bandwidth"]
