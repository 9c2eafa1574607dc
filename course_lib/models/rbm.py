"""The restricted Boltzmann machine (chapter 08): an energy-based latent variable model on binary images.

Binary visible units v ∈ {0, 1}^D (the pixels) and hidden units h ∈ {0, 1}^H, energy
E(v, h) = −bᵀv − cᵀh − vᵀWh, p(v, h) = exp(−E(v, h)) / Z. No edges within a layer, so both conditionals
factorise: p(h_j = 1 | v) = σ(c_j + vᵀW_{:,j}), p(v_i = 1 | h) = σ(b_i + W_{i,:}h). Summing h out gives the
free energy F(v) = −bᵀv − Σ_j softplus(c_j + vᵀW_{:,j}), p(v) = exp(−F(v)) / Z.

Z sums over 2^(D+H) states, but summing v out instead leaves 2^H terms,
log Z = logsumexp_h [cᵀh + Σ_i softplus(b_i + W_{i,:}h)], exact for H ≤ 20 (about a million terms): so this
RBM's test log-likelihood is exact, like FVSBN's and NADE's. The same enumeration gives p(h), hence exact
ancestral samples (h, then v | h); Gibbs chains are there to be taught and to train it.

Training (``fit``): the gradient of the log-likelihood is −∂F(v_data) + E_model ∂F(v). Contrastive divergence
(CD-k) estimates the model's expectation with k Gibbs steps from the data; persistent CD (PCD) keeps chains
running across updates. The surrogate loss mean F(v_data) − mean F(v_chain) (chains detached) has exactly that
gradient. In eval mode the loss is the exact mean negative log-likelihood, so validation and early stopping
use the real objective.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..validation import positive_int
from .base import ImageModel

MAX_EXACT_HIDDEN = 20


def _hidden_states(index: torch.Tensor, hidden: int, dtype) -> torch.Tensor:
    """The binary hidden configurations numbered ``index`` (n,): h_j is bit j of the number; (n, H)."""
    return ((index[:, None] >> torch.arange(hidden, device=index.device)) & 1).to(dtype)


class RBM(ImageModel):
    """A restricted Boltzmann machine on binary images (levels = 2): ``hidden`` units (≤ 20 for the exact
    log Z and samples), trained by CD-``cd_steps`` or, with ``persistent`` chains, by PCD-``cd_steps``."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 2, hidden: int = 16, cd_steps: int = 1,
                 persistent: int = 0):
        super().__init__(image_shape, levels)
        if levels != 2:
            raise ValueError(f"levels must be 2 (an RBM models binary images; see data.binarize), got {levels}")
        self.hidden = positive_int(hidden, "hidden")
        if self.hidden > MAX_EXACT_HIDDEN:
            raise ValueError(f"hidden must be at most {MAX_EXACT_HIDDEN} (log Z enumerates 2^hidden states), "
                             f"got {hidden}")
        self.cd_steps = positive_int(cd_steps, "cd_steps")
        self.persistent = positive_int(persistent, "persistent", minimum=0)
        self.weight = nn.Parameter(0.01 * randomness.normal((self.dims, self.hidden)))
        self.visible_bias = nn.Parameter(torch.zeros(self.dims))
        self.hidden_bias = nn.Parameter(torch.zeros(self.hidden))
        self._log_z_of = None      # (the weights, log Z of them), see _log_partition_while_unchanged
        # the persistent chains' current states (visible), random binary images to start with; a buffer, so
        # they are saved with the model and training resumes exactly
        self.register_buffer("chains", randomness.bernoulli(torch.full((self.persistent, self.dims), 0.5)))

    # -- energies -----------------------------------------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).to(self.weight.dtype)

    def _free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return -v @ self.visible_bias - F.softplus(self.hidden_bias + v @ self.weight).sum(-1)

    def free_energy(self, x) -> torch.Tensor:
        """F(v) = −bᵀv − Σ_j softplus(c_j + vᵀW_{:,j}) (B,), in nats, for binary images x (B, 1, H, W):
        −log of the unnormalised p(v), the hidden units summed out."""
        return self._free_energy(self._flat(self.check_input(x)))

    def log_partition(self, chunk: int = 1 << 16) -> torch.Tensor:
        """log Z exactly (a 0-dim tensor, nats), by enumerating the 2^H hidden states in chunks:
        log Z = logsumexp_h [cᵀh + Σ_i softplus(b_i + W_{i,:}h)]."""
        chunk = positive_int(chunk, "chunk")
        return torch.logsumexp(self._hidden_log_weights(chunk), 0)

    def _hidden_log_weights(self, chunk: int = 1 << 16) -> torch.Tensor:
        """log of the unnormalised p(h) for every hidden state, (2^H,), numbered as in ``_hidden_states``."""
        parts = []
        for start in range(0, 1 << self.hidden, chunk):
            index = torch.arange(start, min(start + chunk, 1 << self.hidden), device=self.device)
            h = _hidden_states(index, self.hidden, self.weight.dtype)
            parts.append(h @ self.hidden_bias + F.softplus(self.visible_bias + h @ self.weight.T).sum(-1))
        return torch.cat(parts)

    def _log_partition_while_unchanged(self) -> torch.Tensor:
        """``log_partition()``, enumerated again only once the weights changed, where no gradient is needed:
        validation asks for it at every batch, while the weights change only between epochs. The weights are
        compared by value (D·H + D + H numbers against 2^H enumerated states), so no change can go unnoticed."""
        if torch.is_grad_enabled() or self.weight.is_meta:     # meta tensors have no values to compare
            return self.log_partition()
        weights = (self.weight, self.visible_bias, self.hidden_bias)
        if self._log_z_of is None or not all(a.dtype == w.dtype and a.device == w.device and torch.equal(a, w)
                                             for a, w in zip(self._log_z_of[0], weights)):
            self._log_z_of = (tuple(w.detach().clone() for w in weights), self.log_partition())
        return self._log_z_of[1]

    def _log_prob(self, x, context):
        return -self._free_energy(self._flat(x)) - self._log_partition_while_unchanged()

    # -- sampling -----------------------------------------------------------------------------------------
    def _sample_hidden(self, v, generator, beta: float = 1.0):
        return randomness.bernoulli(torch.sigmoid(self.hidden_bias + beta * (v @ self.weight)), generator=generator)

    def _sample_visible(self, h, generator, beta: float = 1.0):
        return randomness.bernoulli(torch.sigmoid(self.visible_bias + beta * (h @ self.weight.T)), generator=generator)

    def _gibbs(self, v, steps: int, generator, beta: float = 1.0):
        for _ in range(steps):
            v = self._sample_visible(self._sample_hidden(v, generator, beta), generator, beta)
        return v

    def gibbs(self, x, steps: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``steps`` rounds of block Gibbs sampling (h ~ p(h | v), then v ~ p(v | h)) from the binary images
        x (B, 1, H, W); the images after the last round, same shape, on the model's device."""
        x = self.check_input(x)
        steps = positive_int(steps, "steps")
        with torch.no_grad():
            return self._gibbs(self._flat(x), steps, generator).reshape(x.shape)

    def _sample(self, n, generator, context):
        # exact: h from its marginal p(h) ∝ exp(cᵀh) Π_i (1 + exp(b_i + W_{i,:}h)), enumerated; then v | h
        index = randomness.categorical(torch.softmax(self._hidden_log_weights(), 0), n, generator=generator)
        h = _hidden_states(index, self.hidden, self.weight.dtype)
        return self._sample_visible(h, generator).reshape(n, *self.image_shape)

    # -- training -----------------------------------------------------------------------------------------
    def _loss(self, x, context, generator):
        v = self._flat(x)
        if not self.training:                         # validation: the real objective, exactly
            return -(self._log_prob(x, context)).mean()
        with torch.no_grad():
            if self.persistent:
                self.chains.copy_(self._gibbs(self.chains, self.cd_steps, generator))
                negative = self.chains
            else:
                negative = self._gibbs(v, self.cd_steps, generator)
        # ∂/∂θ of this is −∂ log p̃(v_data) + ∂ log p̃(v_model): the CD / PCD estimate of −∂ log p(v_data)
        return self._free_energy(v).mean() - self._free_energy(negative).mean()

    # -- annealed importance sampling -----------------------------------------------------------------------
    def ais_log_partition(self, betas: int = 1000, chains: int = 100,
                          generator: torch.Generator | None = None) -> tuple[float, float]:
        """log Z by annealed importance sampling (Neal 2001; Salakhutdinov & Murray 2008), for RBMs too large
        to enumerate, checked here against ``log_partition``. Intermediate models E_β = −bᵀv − cᵀh − β vᵀWh,
        β from 0 (independent units: log Z₀ = Σ softplus(b) + Σ softplus(c)) to 1 in ``betas`` equal steps,
        one Gibbs round at each β; ``chains`` independent runs. Returns (estimate, standard error), in nats;
        the standard error is the delta method's, sd(w)/(√M · mean(w)) on the importance weights w."""
        steps, runs = positive_int(betas, "betas", minimum=2), positive_int(chains, "chains", minimum=2)
        schedule = torch.linspace(0.0, 1.0, steps + 1).tolist()
        with torch.no_grad():
            v = randomness.bernoulli(torch.sigmoid(self.visible_bias).expand(runs, -1), generator=generator)
            log_weight = torch.zeros(runs, dtype=torch.float64, device=self.device)

            def free_energy_at(v, beta):
                return -v @ self.visible_bias - F.softplus(self.hidden_bias + beta * (v @ self.weight)).sum(-1)

            for previous, beta in zip(schedule[:-1], schedule[1:]):
                log_weight += (free_energy_at(v, previous) - free_energy_at(v, beta)).double()
                v = self._gibbs(v, 1, generator, beta)
            log_z0 = F.softplus(self.visible_bias).sum() + F.softplus(self.hidden_bias).sum()
            log_mean = torch.logsumexp(log_weight, 0) - math.log(runs)
            weights = torch.exp(log_weight - log_weight.max())
            relative_error = weights.std() / (math.sqrt(runs) * weights.mean())
        return (log_z0.double() + log_mean).item(), relative_error.item()

