"""The one loss entry point.

:func:`harness_loss` has verl 0.9.1's whole-loss signature (``ppo_loss(config, model_output, data,
dp_group=None) -> (loss, metrics)``). verl's workers get it through ``set_loss_fn`` (see
``core/verl/plugin.py``); the embedded CPU trainer calls the very same function. It converts verl's
tensors to padded ``[B, T]`` (entropy included, with grad), builds a :class:`methods.PolicyBatch`
carrying verl's global-batch normalisation, and dispatches to the method registry. It is the only
place that looks a method up by name.

``config`` is verl's actor config (``ActorConfig``) whose ``policy_loss`` is a
:class:`core.verl.plugin.HarnessPolicyLossConfig` (``method`` + ``params``), or the embedded
trainer's :class:`LossConfig`, which has the same attributes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from methods import ConfigError, LossMethod, PolicyBatch, build_method

__all__ = ["harness_loss", "LossConfig", "MethodSpec", "method_from_config", "validate_actor_config", "precompute_selection",
           "metric_values", "prepare_state", "SELECTION_PREFIX", "STATE_DELTA_PREFIX"]

#: data keys that carry batch-scope selections: ``sel_<name>`` -> bool [B, T]
SELECTION_PREFIX = "sel_"
#: metrics carrying a loss call's increments of a stateful method's state (``SUM`` aggregation)
STATE_DELTA_PREFIX = "method_state_delta/"


@dataclass
class LossConfig:
    """The subset of verl's ``ActorConfig`` the loss reads; what the embedded trainer passes.

    verl's own ``entropy_coeff`` / ``kl_loss_coef`` are not used by :func:`harness_loss` (the
    method owns its coefficients); they exist so one validator checks both backends alike.
    """

    policy_loss: Any                      # has .method (str) and .params (mapping)
    loss_agg_mode: str = "token-mean"
    loss_scale_factor: int | None = None
    use_kl_loss: bool = False
    kl_loss_coef: float = 0.0
    entropy_coeff: float = 0.0
    calculate_entropy: bool = True
    global_batch_info: dict = field(default_factory=dict)
    method_state: dict | None = None      # a stateful method's state, owned and checkpointed by the trainer


@dataclass(frozen=True)
class MethodSpec:
    method: str  # a registered method name (the config's method.name)
    params: Mapping[str, Any] = field(default_factory=dict)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


_CACHE: dict[str, LossMethod] = {}


def method_from_config(policy_loss: Any) -> LossMethod:
    """The method named by ``policy_loss.method`` with ``policy_loss.params`` (built once, validated)."""
    name = _get(policy_loss, "method", None)
    if name is None:
        raise ConfigError("policy_loss has no `method`; use core.verl.plugin.HarnessPolicyLossConfig "
                          "(actor_rollout_ref.actor.policy_loss._target_) or core.loss.LossConfig")
    params = _get(policy_loss, "params", None) or {}
    params = {k: _plain(v) for k, v in dict(params).items()}
    key = json.dumps([name, params], sort_keys=True, default=str)
    if key not in _CACHE:
        _CACHE[key] = build_method(name, params)
    return _CACHE[key]


def _plain(v: Any) -> Any:
    """OmegaConf containers -> python (ListConfig etc. are not hashable/JSON friendly)."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(v):
            return OmegaConf.to_container(v, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return v


def validate_actor_config(config: Any, method: LossMethod | None = None) -> LossMethod:
    """One clear error, before training, for settings that would be silently ignored or missing."""
    method = method or method_from_config(config.policy_loss)
    problems = []
    agg = _get(config, "loss_agg_mode", None)
    if agg is not None and agg != method.params.loss_agg_mode:
        problems.append(f"actor loss_agg_mode={agg!r} differs from method.loss_agg_mode="
                        f"{method.params.loss_agg_mode!r}; set the method's")
    if float(_get(config, "entropy_coeff", 0.0) or 0.0) != 0.0:
        problems.append("verl's actor.entropy_coeff must be 0 with the harness loss (the method owns its "
                        "entropy coefficient, e.g. method.entropy_coef)")
    if float(_get(config, "kl_loss_coef", 0.0) or 0.0) != 0.0:
        problems.append("verl's actor.kl_loss_coef must be 0 with the harness loss (the method owns its KL "
                        "coefficient, method.kl_coef)")
    if method.requires_ref() and not _get(config, "use_kl_loss", False):
        problems.append(f"method {method.name!r} needs reference log-probs but actor.use_kl_loss is False; "
                        "set use_kl_loss=True and kl_loss_coef=0 so verl computes ref_log_prob")
    if method.requires_entropy() and not _get(config, "calculate_entropy", False):
        problems.append(f"method {method.name!r} needs per-token entropy; set actor.calculate_entropy=True")
    if problems:
        raise ConfigError("; ".join(problems))
    return method


def _to_padded(t: torch.Tensor | None, data: Any) -> torch.Tensor | None:
    if t is None:
        return None
    if t.is_nested:
        from verl.workers.utils.padding import no_padding_2_padding

        return no_padding_2_padding(t, data)
    return t


def _padded_fields(data: Any, fields: list[str]) -> dict[str, torch.Tensor]:
    """verl TensorDict (possibly jagged) or a plain mapping of padded tensors -> padded tensors."""
    present = [f for f in fields if f in data.keys()]
    sub = data.select(*present) if hasattr(data, "select") else {f: data[f] for f in present}
    if any(getattr(sub[f], "is_nested", False) for f in present):
        sub = sub.to_padded_tensor()
    return {f: sub[f] for f in present}


def _scalar(data: Any, key: str, default: Any = None) -> Any:
    if key not in data.keys():
        return default
    v = data[key]
    if hasattr(v, "data") and not isinstance(v, torch.Tensor):  # tensordict NonTensorData
        v = v.data
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    return v


def prepare_state(method: LossMethod, store: dict | None) -> dict[str, float]:
    """The state dict a stateful method works on: ``store`` (seeded in place with the method's initial
    values when empty), or a fresh initial state when there is no store (a single loss evaluation:
    tests, benchmarks). A store holding other keys belongs to another method and is refused."""
    init = method.init_state()
    if store is None:
        return dict(init)
    if not store:
        store.update(init)
    if set(store) != set(init):
        raise ConfigError(f"method {method.name!r} keeps state {sorted(init)} but the trainer's method_state has "
                          f"{sorted(store)}: it belongs to another method or version; start the run over")
    return store


def harness_loss(config: Any, model_output: Mapping[str, torch.Tensor], data: Any, dp_group: Any = None,
                 method_state: dict | None = None):
    """verl whole-loss signature: ``(config, model_output, data, dp_group) -> (loss, metrics)``.

    ``method_state`` (or ``config.method_state``) is the trainer's state dict of a stateful method
    (see ``LossMethod.init_state``); the method updates it in place.
    """
    from verl.utils.metric import AggregationType, Metric

    method = method_from_config(config.policy_loss)
    state = before = None
    if method.stateful():
        state = prepare_state(method, method_state if method_state is not None else _get(config, "method_state", None))
        before = dict(state)
    log_prob = _to_padded(model_output["log_probs"], data)                  # [B, T] with grad
    entropy = _to_padded(model_output.get("entropy"), data)                 # [B, T] with grad or None
    if method.requires_entropy() and entropy is None:
        raise ConfigError(f"method {method.name!r} needs entropy but the model output has none "
                          "(verl: actor.calculate_entropy=True)")

    # verl's global-batch normalisation (as ppo_loss does)
    info = {"dp_size": _scalar(data, "dp_size", 1), "batch_num_tokens": _scalar(data, "batch_num_tokens"),
            "global_batch_size": _scalar(data, "global_batch_size"),
            "loss_scale_factor": _get(config, "loss_scale_factor", None)}
    if hasattr(config, "global_batch_info") and isinstance(config.global_batch_info, dict):
        config.global_batch_info.update(info)

    sel_keys = [k for k in data.keys() if isinstance(k, str) and k.startswith(SELECTION_PREFIX)]
    fields = ["response_mask", "old_log_probs", "advantages", "ref_log_prob", "old_entropy", *sel_keys]
    t = _padded_fields(data, fields)
    if method.requires_ref() and "ref_log_prob" not in t:
        raise ConfigError(f"method {method.name!r} needs ref_log_prob in the batch; verl: set "
                          "actor.use_kl_loss=True (kl_loss_coef=0)")
    batch = PolicyBatch(
        log_prob=log_prob,
        old_log_prob=t["old_log_probs"],
        advantages=t["advantages"],
        mask=t["response_mask"].to(torch.bool),
        entropy=entropy,
        ref_log_prob=t.get("ref_log_prob"),
        old_entropy=t.get("old_entropy"),
        selection={k[len(SELECTION_PREFIX):]: t[k] for k in sel_keys},
        global_info=info,
        state=state,
    )
    out = method(batch)
    if not torch.isfinite(out.loss):
        raise FloatingPointError(f"method {method.name!r} produced a non-finite loss ({out.loss.item()})")

    global_norm = (info["dp_size"] or 1) > 1 or info["batch_num_tokens"] is not None or \
        info["global_batch_size"] is not None or info["loss_scale_factor"] is not None
    metrics: dict[str, Any] = {k: Metric(value=float(v), aggregation=AggregationType.MEAN)
                               for k, v in out.metrics.items()}
    for k, v in (state or {}).items():  # this call's increments: summed over micro-batches, averaged over ranks
        metrics[STATE_DELTA_PREFIX + k] = Metric(value=float(v - before[k]), aggregation=AggregationType.SUM)
    metrics["train/loss"] = Metric(value=out.loss.detach(),
                                   aggregation=AggregationType.SUM if global_norm else AggregationType.MEAN)
    if entropy is not None:
        metrics["train/entropy"] = Metric(value=float((entropy.detach() * batch.mask).sum() / batch.mask.sum().clamp(min=1)),
                                          aggregation=AggregationType.MEAN)
    return out.loss, metrics


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float]:
    """verl ``Metric`` objects (or floats) -> plain floats, for the embedded trainer's logs."""
    out = {}
    for k, v in metrics.items():
        if hasattr(v, "aggregate"):
            v = v.aggregate()
        out[k] = float(v.item() if isinstance(v, torch.Tensor) else v)
    return out


@torch.no_grad()
def precompute_selection(method: LossMethod, *, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                         response_mask: torch.Tensor, old_entropy: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Batch-scope selections over the whole rollout batch, from rollout-time tensors (``[B, T]``).

    Returns ``{"sel_<name>": bool [B, T]}`` to be stored in the batch next to ``advantages`` so
    every micro-batch's loss call reads the same masks (``scope='batch'``). Empty for methods
    with ``scope='micro'`` or without selections.
    """
    if getattr(method.params, "scope", "micro") != "batch":
        return {}
    if method.requires_entropy() and old_entropy is None:
        raise ConfigError(f"scope='batch' for {method.name!r} needs the rollout entropy (old_entropy)")
    mask = response_mask.to(torch.bool)
    batch = PolicyBatch(log_prob=old_log_prob, old_log_prob=old_log_prob, advantages=advantages, mask=mask,
                        entropy=old_entropy, old_entropy=old_entropy)
    sel = method.select(batch)
    return {SELECTION_PREFIX + k: v.to(torch.bool) for k, v in sel.items()}
