"""Every model of the course, one module per family, all speaking the protocol of ``models.base``."""

from . import mixtures, ppca
from .autoencoders import LinearAutoencoder
from .autoregressive import FVSBN, MADE, NADE, AutoregressiveImageModel, CausalConvSequence, GatedPixelCNN, PixelCNN
from .base import DensityModel, ImageModel, Sampler, evaluation_mode
from .factorized import FactorizedCategorical
from .flows import Flow, ImageFlow, VariationalDequantizer, realnvp_image_body
from .gan import (GAN, BiGAN, ConvEncoder, DCDiscriminator, DCGenerator, JointDiscriminator, MLPDiscriminator,
                  MLPGenerator, SegmentGenerator, discriminator_loss, generator_loss, gradient_penalty)
from .gaussian import Gaussian
from .histogram import HistogramDensity
from .kde import GaussianKDE, select_bandwidth
from .mixtures import GaussianMixture
from .ppca import PPCA
from .rbm import RBM
from .vae import VAE

__all__ = ["AutoregressiveImageModel", "CausalConvSequence", "DensityModel", "FVSBN", "FactorizedCategorical", "Flow", "GAN", "BiGAN", "discriminator_loss", "generator_loss", "gradient_penalty", "SegmentGenerator", "ConvEncoder", "JointDiscriminator", "DCDiscriminator", "DCGenerator", "MLPDiscriminator", "MLPGenerator",
           "Gaussian", "GaussianKDE", "GaussianMixture", "GatedPixelCNN", "HistogramDensity", "ImageFlow", "ImageModel",
           "LinearAutoencoder",
           "MADE", "NADE", "PPCA", "PixelCNN", "RBM", "Sampler", "VAE", "VariationalDequantizer", "evaluation_mode", "mixtures", "ppca",
           "realnvp_image_body", "select_bandwidth"]
