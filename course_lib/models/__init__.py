"""Every model of the course, one module per family, all speaking the protocol of ``models.base``."""

from . import mixtures, ppca
from .autoencoders import LinearAutoencoder
from .autoregressive import (FVSBN, MADE, NADE, AutoregressiveImageModel, CausalConvSequence, GatedPixelCNN,
                             GRUSequence, PixelCNN)
from .diffusion import DDPM, FlowMatching, noise_schedule
from .base import DensityModel, ImageModel, Sampler, TrainableSampler, evaluation_mode
from .glo import GLO
from .score import (ScoreModel, annealed_langevin, denoising_score_matching_loss, langevin, noise_levels,
                    sliced_score_matching_loss)
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
           "Gaussian", "GaussianKDE", "GaussianMixture", "GatedPixelCNN", "GRUSequence", "HistogramDensity", "ImageFlow", "ImageModel",
           "LinearAutoencoder",
           "MADE", "NADE", "PPCA", "PixelCNN", "RBM", "Sampler", "DDPM", "FlowMatching", "noise_schedule", "GLO", "ScoreModel", "annealed_langevin",
           "denoising_score_matching_loss", "langevin", "noise_levels", "sliced_score_matching_loss", "TrainableSampler", "VAE", "VariationalDequantizer", "evaluation_mode", "mixtures", "ppca",
           "realnvp_image_body", "select_bandwidth"]
