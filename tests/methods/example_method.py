"""The worked example of docs/methods.md "Adding a method": a baseline defined only in this test file.

It is registered on import (tests/methods/conftest.py imports it), so it shows up in
``python -m methods`` and in every registry-parametrised test without editing anything else.
Method: GRPO whose advantages are scaled down on the highest-entropy tokens ("calm"), a toy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods import LossMethod, LossOutput, PolicyBatch, hp, register
from methods.base import SCOPES
from methods.common import masked_mean, top_frac_mask
from methods.grpo import GRPOParams, grpo_terms


@dataclass(frozen=True)
class CalmParams(GRPOParams):
    scope: str = hp("micro", "example: as the reference methods", "'micro' or 'batch' selection", choices=SCOPES)
    calm_frac: float = hp(0.1, "example: a toy default", "fraction of highest-entropy tokens calmed", gt=0.0, le=1.0)
    calm_scale: float = hp(0.5, "example: a toy default", "advantage multiplier on calmed tokens", ge=0.0)


@register
class Calm(LossMethod):
    name = "example_calm"
    params_cls = CalmParams
    paper = "docs/methods.md worked example (not a real baseline)"

    def selection_keys(self):
        return ("calm",)

    def select(self, batch: PolicyBatch):
        h = (batch.entropy if batch.entropy is not None else batch.old_entropy).detach()
        return {"calm": top_frac_mask(h, batch.mask, self.params.calm_frac, rounding="ceil")}

    def compute(self, batch: PolicyBatch) -> LossOutput:
        calm = self.selections(batch)["calm"]                                       # [B, T] bool
        scale = torch.where(calm, self.params.calm_scale, 1.0)                      # [B, T]
        loss, metrics = grpo_terms(batch, self.params, advantages=batch.advantages * scale)
        metrics["method/calm_frac"] = float(masked_mean(calm.float(), batch.mask))
        return LossOutput(loss, metrics)
