"""EntroPIC: entropy stabilisation by proportional-integral control (Yang et al. 2025, "EntroPIC:
Towards Stable Long-Term Training of LLMs via Entropy Stabilization with Proportional-Integral
Control", arXiv 2511.15248; released code: github.com/yk7333/EntroPIC, ``core_algos.py::
compute_policy_loss_entropic`` and ``dp_actor.py``).

A PI controller sets a coefficient alpha from the gap between the policy's entropy and a target,
and alpha shifts the loss weight between positive and negative samples on high-probability tokens
(reinforcing a confident token of a positive sample lowers entropy; of a negative sample, raises it)::

    e_k     = H_k - H_target                      H_k: token-mean entropy of loss call k (current policy)
    I_k     = I_{k-1} + w_k e_k                   w_k: the call's share of its mini-batch (sums to 1)
    alpha_k = clip(K_p e_k + K_i I_k, -alpha_max, alpha_max)
    L       = agg(PPO(A)) + alpha_k * agg_{P}(-r |A|)        P = {t : pi_theta(o_t) > tau}

On P, positive samples (A > 0) get weight ``1 + alpha`` and negative ones ``1 - alpha``: entropy
above target (alpha > 0) strengthens positive samples and weakens negative ones, which lowers it.

**State.** ``I`` (``integral``) persists across loss calls and training steps: the method declares
it in ``init_state`` and the trainer saves it with its checkpoints (``LossMethod`` docstring).

Defaults: K_p = 1, K_i = 0.01 (config/entropic.yaml), target entropy 0.1 and no KL (run_entropic.sh,
Qwen3-8B), tau = 0.95 and |alpha| <= 1 (core_algos.py / dp_actor.py), PPO clip: verl defaults.
Where we differ from the released code (recorded in ``source``):

- The integral includes the current call's error (the textbook discrete PI form
  ``u_k = K_p e_k + K_i sum_{j<=k} e_j``); the released code adds ``e_k`` to the integral after
  computing ``alpha_k``, one loss call later. With K_i = 0.01 the difference is at most ``0.01 w_k |e_k|``.
- ``agg_P`` is the mean over the call's tokens in P weighted by the call's share of the mini-batch
  (``aggregate_selected(..., 'selected')``); with one micro-batch it is the released ``agg_loss``
  over P exactly.
- ``w_k`` is ``B_call * dp_size / global_batch_size`` (the released code: micro-batch rows over the
  mini-batch rows); 1 when the loss call carries no global batch size.
- The target entropy does not transfer across models: the paper sets it per model. At the embedded
  scale no rule is fixed for it yet; the paper's 0.1 is kept, which on the tiny model lies below its
  entropy (docs/methods.md, "entropic").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from methods.base import ClipParams, LossMethod, LossOutput, PolicyBatch, hp
from methods.common import clipped_surrogate, masked_mean
from methods.registry import register

_CODE = "EntroPIC released code (github.com/yk7333/EntroPIC)"


@dataclass(frozen=True)
class EntroPICParams(ClipParams):
    target_entropy: float = hp(0.1, f"{_CODE} run_entropic.sh target_entropy=0.1 (Qwen3-8B-Base)",
                               "entropy the controller holds (nats, token mean)", ge=0.0)
    kp: float = hp(1.0, f"{_CODE} config/entropic.yaml entropy_control_p=1", "proportional gain K_p", ge=0.0)
    ki: float = hp(0.01, f"{_CODE} config/entropic.yaml entropy_control_i=0.01", "integral gain K_i", ge=0.0)
    high_prob_thresh: float = hp(0.95, f"{_CODE} core_algos.py high_prob_thresh=0.95",
                                 "tokens with pi_theta(o_t) > tau get the adjusted weight", gt=0.0, le=1.0)
    alpha_max: float = hp(1.0, f"{_CODE} dp_actor.py np.clip(control_alpha, -1.0, 1.0)",
                          "bound on |alpha| (weights 1 +- alpha stay >= 0)", gt=0.0, le=1.0)


@register
class EntroPIC(LossMethod):
    name = "entropic"
    label = "EntroPIC"
    params_cls = EntroPICParams
    paper = "Yang et al. 2025 (arXiv 2511.15248) EntroPIC, PI control of entropy"
    needs_entropy = True

    def init_state(self) -> dict[str, float]:
        return {"integral": 0.0}

    def controller(self, entropy: float, state: dict[str, float], weight: float = 1.0) -> tuple[float, float]:
        """One PI step: update ``state['integral']`` in place; return ``(alpha, error)``."""
        p = self.params
        e = entropy - p.target_entropy
        state["integral"] = state["integral"] + weight * e
        alpha = min(p.alpha_max, max(-p.alpha_max, p.kp * e + p.ki * state["integral"]))
        return alpha, e

    def compute(self, batch: PolicyBatch) -> LossOutput:
        p = self.params
        m = batch.mask
        state = batch.state if batch.state is not None else self.init_state()
        h_call = float(masked_mean(batch.entropy.detach(), m))                            # current-policy entropy
        info = batch.global_info
        gbs = info.get("global_batch_size")
        weight = m.shape[0] * float(info.get("dp_size") or 1) / float(gbs) if gbs else 1.0
        alpha, err = self.controller(h_call, state, weight)
        pg_mat, metrics = clipped_surrogate(batch, p)                                     # [B, T]
        loss = batch.aggregate(pg_mat, p.loss_agg_mode)
        log_ratio = torch.clamp(batch.log_prob - batch.old_log_prob, min=-20.0, max=20.0)
        ratio = torch.exp(log_ratio)                                                      # [B, T]
        high = m & (batch.log_prob.detach() > math.log(p.high_prob_thresh))               # [B, T] P
        adjust = batch.aggregate_selected(-ratio * batch.advantages.abs(), p.loss_agg_mode, high, "selected")
        loss = loss + alpha * adjust
        metrics.update({"train/pg_loss": float(masked_mean(pg_mat.detach(), m)),
                        "method/alpha": alpha, "method/entropy_error": err,
                        "method/integral": float(state["integral"]),
                        "method/high_prob_frac": float(masked_mean(high.float(), m))})
        return LossOutput(loss, metrics)
