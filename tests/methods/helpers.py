"""Run one method on a batch through the real loss entry point, returning loss and gradients."""

from __future__ import annotations

import torch

from core.loss import LossConfig, MethodSpec, harness_loss, metric_values, precompute_selection
from methods import build_method


def run_method(name: str, t: dict, params: dict | None = None, seed: int = 0, global_info: dict | None = None):
    params = dict(params or {})
    method = build_method(name, params)
    lp = t["log_prob"].clone().requires_grad_(True)
    ent = t["entropy"].clone().requires_grad_(True)
    data = {"response_mask": t["mask"], "old_log_probs": t["old_log_prob"], "advantages": t["advantages"],
            "ref_log_prob": t["ref_log_prob"], "old_entropy": t["old_entropy"], **(global_info or {})}
    data.update(precompute_selection(method, old_log_prob=t["old_log_prob"], advantages=t["advantages"],
                                     response_mask=t["mask"], old_entropy=t["old_entropy"]))
    cfg = LossConfig(policy_loss=MethodSpec(name, params), use_kl_loss=True,
                     loss_agg_mode=method.params.loss_agg_mode)
    torch.manual_seed(seed)
    loss, metrics = harness_loss(cfg, {"log_probs": lp, "entropy": ent}, data)
    loss.backward()
    g_ent = torch.zeros_like(ent) if ent.grad is None else ent.grad.detach()  # methods without an entropy term
    return loss.detach(), lp.grad.detach(), g_ent, metric_values(metrics)
