"""What the verl backend's ``harness`` trainer (core/verl/plugin.py) adds to verl's step, on the driver,
between the advantage computation and the actor update, from the rollout batch in TransferQueue:

* :func:`token_stats_record` -- the per-token diagnostics every method logs on the embedded backend
  (``token_stats.jsonl``, docs/runlog.md): the rollout-entropy histogram, the Cov(log pi, A)
  histogram for covariance methods, and at chosen steps the decoded 80% lowest / 20% highest entropy
  tokens (Fig. 8). Same bins and rules as the embedded trainer (core/token_stats.py builds both). Each (re)start of a stage appends
  to ``$SENT_HARNESS_TOKEN_STATS_PATH`` (verl global steps); core/verl/backend.py merges them.
* :func:`batch_selection` -- ``scope='batch'``: a method's token selection computed once over the
  whole rollout batch from rollout-time tensors (``core.loss.precompute_selection``, as the embedded
  backend does), stored in the batch as ``sel_<name>`` fields that every micro-batch's loss call reads.
  The selection then no longer depends on the micro-batch size (verl issue 7829).
"""

from __future__ import annotations

import json
import os
from typing import Callable

import torch

__all__ = ["TOKEN_STATS_ENV", "TOKEN_SETS_EVERY_ENV", "SELECTION_DUMP_ENV", "recording_loss", "token_stats_record", "append_token_stats", "batch_selection"]

TOKEN_STATS_ENV = "SENT_HARNESS_TOKEN_STATS_PATH"
#: write the decoded token sets every this many verl steps (and at the last step); 0 = never
TOKEN_SETS_EVERY_ENV = "SENT_HARNESS_TOKEN_SETS_EVERY"
#: tests: save each step's batch-scope selection to ``<value>.step<k>.pt``
SELECTION_DUMP_ENV = "SENT_HARNESS_SELECTION_DUMP"


def token_stats_record(step: int, *, entropy: torch.Tensor, responses: torch.Tensor, mask: torch.Tensor,
                       advantages: torch.Tensor, old_log_prob: torch.Tensor, method: str,
                       decode: Callable[[int], str] | None) -> dict:
    """One ``token_stats.jsonl`` record (:func:`core.token_stats.token_stats_record`) for method ``method``."""
    from core import token_stats
    from methods import get_method_cls

    return token_stats.token_stats_record(step, entropy=entropy, responses=responses, mask=mask, advantages=advantages,
                                          old_log_prob=old_log_prob, decode=decode,
                                          uses_covariance=get_method_cls(method).uses_covariance)


def append_token_stats(rec: dict, path: str | os.PathLike | None = None) -> None:
    """Append one record (one ``write``: line-atomic) to ``path`` or ``$SENT_HARNESS_TOKEN_STATS_PATH``."""
    path = path or os.environ.get(TOKEN_STATS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


def batch_selection(method, *, old_log_prob: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    entropy: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """``{"sel_<name>": bool [B, T]}`` over the whole rollout batch for ``scope='batch'`` methods, else ``{}``."""
    from core.loss import precompute_selection

    return precompute_selection(method, old_log_prob=old_log_prob, advantages=advantages, response_mask=mask,
                                old_entropy=entropy)


def recording_loss(config, model_output, data, dp_group=None, method_state: dict | None = None, *, dump: str):
    """Tests only (``$SENT_HARNESS_SELECTION_DUMP``): :func:`core.loss.harness_loss`, after appending what
    this loss call read to ``<dump>.loss.jsonl``: its rows, response tokens and, per ``sel_`` field,
    the selected tokens. Runs in the actor worker, once per micro-batch."""
    from core.loss import SELECTION_PREFIX, _padded_fields, harness_loss

    keys = [k for k in data.keys() if isinstance(k, str) and k.startswith(SELECTION_PREFIX)]
    t = _padded_fields(data, ["response_mask", *keys])
    mask = t["response_mask"].to(torch.bool)
    rec = {"rows": int(mask.shape[0]), "tokens": int(mask.sum()),
           "selected": {k: int((t[k].to(torch.bool) & mask).sum()) for k in keys}}
    with open(f"{dump}.loss.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
    return harness_loss(config, model_output, data, dp_group, method_state)
