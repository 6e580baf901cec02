r"""The von Mises-Fisher (vMF) pieces of iBOT-vMF / DINO-vMF (Govindarajan et al., ICLR 2023).

DINO's head maps an image to an L2-normalised vector :math:`y \in S^{p-1}` (the
bottleneck, ``p`` = ``head_bottleneck``) and scores it against K prototypes
:math:`w_k` (the last, weight-normalised linear layer, :math:`w_k = g_k v_k/|v_k|`).
Read as a mixture of vMF components, prototype k has mean direction
:math:`\mu_k = w_k/|w_k|` and concentration :math:`\kappa_k = |w_k|/\tau` (``tau`` the
student or teacher temperature). The vMF variant keeps the prototypes un-normalised
(``g_k`` is learnt) and adds the log-normaliser of each component to its logit::

    logit_k(y; tau) = <w_k, y> / tau + log C_p(|w_k| / tau)
    log C_p(kappa)  = nu log(kappa) - (p/2) log(2 pi) - log I_nu(kappa),  nu = p/2 - 1

``I_nu`` is the modified Bessel function of the first kind. For the large orders of a
256-d bottleneck (nu = 127) it is evaluated with the uniform (Debye) large-order
expansion, stable for every kappa > 0 (no overflow of ``I_nu`` itself)::

    log I_nu(kappa) ~ eta - 1/2 log(2 pi) - 1/4 log(nu^2 + kappa^2)
                      + log(1 + u1(t)/nu + u2(t)/nu^2),
    eta = sqrt(nu^2 + kappa^2) + nu log(kappa / (nu + sqrt(nu^2 + kappa^2))),
    t = nu / sqrt(nu^2 + kappa^2),
    u1(t) = (3t - 5t^3)/24,  u2(t) = (81t^2 - 462t^4 + 385t^6)/1152.

(tests check it against ``scipy.special.ive`` for moderate kappa and p.) When every
prototype has the same norm the added term is one constant and the softmax is exactly
DINO's, so the vMF head reduces to DINO with normalised prototypes.

Centering is done in probability space (the paper's "probability centering"): with
:math:`q = \mathrm{softmax}(\mathrm{logit}^{teacher})` the teacher target is
:math:`\tilde q_k \propto q_k / c_k`, i.e. ``softmax(logit - log c)``, where ``c`` is an
exponential moving average (momentum 0.9) of the batch-mean teacher probabilities
(all-reduced across processes), initialised uniform (1/K). The update uses the batch's
un-centred ``q`` after the loss is computed, as DINO does for its logit center.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def log_bessel_iv(nu: float, kappa: Tensor) -> Tensor:
    """log I_nu(kappa) from the uniform large-order expansion (accurate for nu >~ 5).

    ``kappa`` > 0 (any shape, float32/64); differentiable in ``kappa``.
    """
    nu_t = torch.as_tensor(float(nu), dtype=kappa.dtype, device=kappa.device)
    r = torch.sqrt(nu_t * nu_t + kappa * kappa)
    eta = r + nu_t * torch.log(kappa / (nu_t + r))
    t = nu_t / r
    t2 = t * t
    u1 = t * (3.0 - 5.0 * t2) / 24.0
    u2 = t2 * (81.0 - 462.0 * t2 + 385.0 * t2 * t2) / 1152.0
    corr = torch.log1p(u1 / nu_t + u2 / (nu_t * nu_t))
    return eta - 0.5 * math.log(2.0 * math.pi) - 0.25 * torch.log(r * r) + corr


def log_vmf_normalizer(kappa: Tensor, p: int) -> Tensor:
    """log C_p(kappa) of the vMF density C_p(kappa) exp(kappa mu^T x) on S^{p-1} (p >= 3)."""
    if p < 3:
        raise ValueError(f"the large-order vMF normaliser needs p >= 3, got p={p}")
    nu = p / 2.0 - 1.0
    return nu * torch.log(kappa) - (p / 2.0) * math.log(2.0 * math.pi) - log_bessel_iv(nu, kappa)


def vmf_logits(scores: Tensor, norms: Tensor, temp: float | Tensor, p: int) -> Tensor:
    """vMF logits ``scores/temp + log C_p(norms/temp)``.

    ``scores`` (..., K) are the head outputs <w_k, y> with ``y`` on the unit sphere,
    ``norms`` (K,) the prototype norms |w_k|, ``p`` the bottleneck dimension.
    Computed in float32 whatever the autocast state.
    """
    with torch.autocast(device_type=scores.device.type, enabled=False):
        scores = scores.float()
        kappa = norms.float().clamp_min(1e-6) / temp
        return scores / temp + log_vmf_normalizer(kappa, p)


class ProbabilityCenter(nn.Module):
    """EMA of batch-mean teacher probabilities (K,), initialised uniform; DDP-aware."""

    def __init__(self, k: int, momentum: float = 0.9):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("center", torch.full((1, k), 1.0 / k))

    def log(self) -> Tensor:
        return torch.log(self.center.clamp_min(1e-12))

    @torch.no_grad()
    def update(self, probs: Tensor) -> None:
        """``probs`` (..., K) un-centred teacher probabilities of this batch (may be empty).

        The batch mean is taken over all rows of all processes (sums and counts are
        all-reduced), so W processes update the center exactly as one process with the
        whole global batch; a batch without rows leaves the center unchanged.
        """
        import torch.distributed as dist

        rows = probs.reshape(-1, probs.shape[-1]).float()
        tot = torch.cat([rows.sum(dim=0), rows.new_tensor([rows.shape[0]])])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(tot)
        if tot[-1] > 0:
            batch = (tot[:-1] / tot[-1]).unsqueeze(0)
            self.center.mul_(self.momentum).add_(batch, alpha=1.0 - self.momentum)


class _VMFCrossEntropy(nn.Module):
    """What both vMF losses share: the vMF logits at a temperature, centred teacher targets and
    student log-probabilities; the centre follows the teacher's batch-mean probabilities."""

    def __init__(self, output_dim: int, bottleneck_dim: int, student_temp: float = 0.1,
                 center_momentum: float = 0.9):
        super().__init__()
        self.p = int(bottleneck_dim)
        self.student_temp = student_temp
        self.center = ProbabilityCenter(output_dim, center_momentum)

    def _targets_and_logp(self, teacher_scores: Tensor, student_scores: Tensor, teacher_norms: Tensor,
                          student_norms: Tensor, teacher_temp: float) -> tuple[Tensor, Tensor, Tensor]:
        """(teacher logits, centred teacher probabilities, student log-probabilities)."""
        t_logits = vmf_logits(teacher_scores, teacher_norms, teacher_temp, self.p)
        t_probs = F.softmax(t_logits - self.center.log(), dim=-1)
        s_logp = F.log_softmax(vmf_logits(student_scores, student_norms, self.student_temp, self.p), dim=-1)
        return t_logits, t_probs, s_logp


class VMFDINOLoss(_VMFCrossEntropy):
    """Multi-crop DINO cross-entropy on vMF logits with probability centering (CLS tokens).

    ``forward(teacher_scores, student_scores, teacher_norms, student_norms, teacher_temp)``
    takes lists of (B, K) head outputs: teacher views (the global crops) and student views
    (global crops first, then local crops), as lightly's ``DINOLoss`` does; pairs with the
    same view index are skipped. Returns the mean cross-entropy over pairs and images.
    """

    def forward(self, teacher_scores: list[Tensor], student_scores: list[Tensor],
                teacher_norms: Tensor, student_norms: Tensor, teacher_temp: float) -> Tensor:
        t_logits, t_probs, s_logp = self._targets_and_logp(
            torch.stack(teacher_scores), torch.stack(student_scores), teacher_norms, student_norms,
            teacher_temp)
        loss = -torch.einsum("tbk,sbk->ts", t_probs, s_logp)
        loss = loss.fill_diagonal_(0)
        n_terms = loss.numel() - min(loss.shape)
        if n_terms == 0:
            raise ValueError("VMFDINOLoss needs at least two views")
        out = loss.sum() / (n_terms * t_logits.shape[1])
        self.center.update(F.softmax(t_logits.detach(), dim=-1))
        return out


class VMFPatchLoss(_VMFCrossEntropy):
    """iBOT masked-patch cross-entropy on vMF logits with probability centering.

    Same weighting as lightly's ``IBOTPatchLoss``: each image's masked tokens are averaged,
    then images are averaged over the batch (unmasked images contribute zero).
    ``teacher_scores``/``student_scores`` are (N_masked, K) for the masked tokens of all
    global crops; ``mask`` is the (B, H, W) boolean mask.
    """

    def forward(self, teacher_scores: Tensor, student_scores: Tensor, mask: Tensor,
                teacher_norms: Tensor, student_norms: Tensor, teacher_temp: float) -> Tensor:
        t_logits, t_probs, s_logp = self._targets_and_logp(
            teacher_scores, student_scores, teacher_norms, student_norms, teacher_temp)
        ce = -(t_probs * s_logp).sum(dim=-1)
        n_masked = mask.sum(dim=(1, 2), keepdim=True).clamp(min=1.0)
        weight = (1.0 / n_masked).expand_as(mask)[mask]
        out = (ce * weight).sum() / mask.shape[0]
        self.center.update(F.softmax(t_logits.detach(), dim=-1))  # also when empty: DDP calls stay in step
        return out
