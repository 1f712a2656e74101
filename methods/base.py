"""The method interface: hyperparameter dataclasses, the per-token batch a method sees, and the
``LossMethod`` base class.

A method is one small file in ``methods/``: a frozen dataclass of hyperparameters (every field with
a default, a ``source`` citation and a one-line ``doc``) and a ``LossMethod`` subclass whose
``compute`` is a pure function of a :class:`PolicyBatch`. The core (``core/loss.py``) builds the
batch from verl's tensors and calls it; the method never sees verl's config objects.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import torch

__all__ = [
    "hp",
    "MethodParams",
    "ClipParams",
    "RefKLParams",
    "SelectionParams",
    "PolicyBatch",
    "LossOutput",
    "LossMethod",
    "ConfigError",
    "SCOPES",
    "DENOMINATORS",
    "AGG_MODES",
    "KL_TYPES",
]

#: where token selections (top-k, quantiles, covariance centring) are computed.
#: ``micro``: inside each loss call, i.e. per micro-batch on one rank (the reference code).
#: ``batch``: once over the whole rollout batch, before the update (the papers' equations).
SCOPES = ("micro", "batch")
#: what normalises a selected-token term: all response tokens, or only the selected ones.
DENOMINATORS = ("all", "selected")
#: verl 0.9.1 ``agg_loss`` modes.
AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
#: verl 0.9.1 ``kl_penalty`` estimators ("full" raises in verl and is not offered).
KL_TYPES = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3", "k1+", "k2+", "k3+", "low_var_kl+", "kl+", "abs+", "mse+")


class ConfigError(ValueError):
    """A bad method name or hyperparameter. Raised before any training starts."""


def hp(default: Any, source: str, doc: str, *, ge: float | None = None, gt: float | None = None,
       le: float | None = None, lt: float | None = None, choices: tuple | None = None) -> Any:
    """A hyperparameter field: default, citation, description and validation bounds."""
    meta = {"source": source, "doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class MethodParams:
    """Base of every method's hyperparameters.

    Fields common to all methods: the loss aggregation (verl's ``loss_agg_mode``).
    """

    loss_agg_mode: str = hp(
        "token-mean", "VeRL default actor.loss_agg_mode (SENT App. D-1: unlisted settings follow VeRL)",
        "how per-token losses become a scalar (verl agg_loss)", choices=AGG_MODES)

    def validate(self) -> None:
        """Check every field against its declared bounds; raise one :class:`ConfigError`."""
        problems = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            m = f.metadata
            name = f"{type(self).__name__}.{f.name}"
            if m.get("choices") is not None:
                if v not in m["choices"]:
                    problems.append(f"{name}={v!r} is not one of {list(m['choices'])}")
                continue
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float)):
                if isinstance(v, float) and not math.isfinite(v):
                    problems.append(f"{name}={v} must be finite")
                    continue
                for key, ok, word in (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
                                      ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<")):
                    if m.get(key) is not None and not ok(v, m[key]):
                        problems.append(f"{name}={v} must be {word} {m[key]}")
        problems.extend(self._extra_checks())
        if problems:
            raise ConfigError("invalid hyperparameters: " + "; ".join(problems))

    def _extra_checks(self) -> list[str]:
        """Cross-field checks; subclasses extend."""
        return []


@dataclass(frozen=True)
class ClipParams(MethodParams):
    """The PPO clipped surrogate with verl's dual clip (used by every clipped method)."""

    clip_ratio_low: float = hp(0.2, "VeRL default actor.clip_ratio_low (SENT §III-A's '2.0' is read as a typo for 0.2)",
                               "lower PPO clip epsilon: ratio >= 1 - eps", ge=0.0)
    clip_ratio_high: float = hp(0.2, "VeRL default actor.clip_ratio_high", "upper PPO clip epsilon: ratio <= 1 + eps",
                                ge=0.0)
    clip_ratio_c: float = hp(3.0, "VeRL default actor.clip_ratio_c (dual-clip PPO, arXiv 1912.09729)",
                             "dual-clip bound for negative advantages", gt=1.0)


@dataclass(frozen=True)
class RefKLParams(MethodParams):
    """A KL penalty to the frozen reference policy, added to every response token."""

    kl_coef: float = hp(0.001, "SENT Table X: kl loss coefficient, GRPO", "coefficient of KL(pi || pi_ref)", ge=0.0)
    kl_type: str = hp("low_var_kl", "VeRL default actor.kl_loss_type (the SENT stage scripts use it too)",
                      "verl kl_penalty estimator", choices=KL_TYPES)


@dataclass(frozen=True)
class SelectionParams(MethodParams):
    """Where a token-selecting method computes its selection, and what normalises the selected term."""

    scope: str = hp("micro", "reference code (verl, PRIME-RL, 80/20, SENT) selects per loss call = micro-batch",
                    "'micro': select inside each loss call; 'batch': once over the rollout batch (the papers' N)",
                    choices=SCOPES)
    denominator: str = hp("all", "reference code keeps verl's token-mean over all response tokens",
                          "normaliser of the selected-token term: 'all' response tokens or only 'selected' ones",
                          choices=DENOMINATORS)


@dataclass
class PolicyBatch:
    """Per-token tensors of one loss call, all ``[B, T]`` (B responses, T response positions).

    ``log_prob`` and ``entropy`` carry gradients; everything else is data. ``aggregate`` applies
    verl's ``agg_loss`` with the global batch info of the mini-batch (so that the sum of the loss
    over micro-batches and ranks is the mini-batch mean).
    """

    log_prob: torch.Tensor          # [B, T] log pi_theta(o_t), with grad
    old_log_prob: torch.Tensor      # [B, T] log pi_old(o_t) (rollout policy)
    advantages: torch.Tensor        # [B, T]
    mask: torch.Tensor              # [B, T] bool, response tokens
    entropy: torch.Tensor | None = None       # [B, T] H_t of pi_theta, with grad
    ref_log_prob: torch.Tensor | None = None  # [B, T] log pi_ref(o_t)
    old_entropy: torch.Tensor | None = None   # [B, T] H_t of the rollout policy (no grad)
    selection: Mapping[str, torch.Tensor] = field(default_factory=dict)  # batch-scope masks, [B, T] bool
    global_info: Mapping[str, Any] = field(default_factory=dict)  # dp_size, batch_num_tokens, ...
    state: dict[str, float] | None = None  # the run's method state (stateful methods only; mutable)

    def aggregate(self, loss_mat: torch.Tensor, mode: str, mask: torch.Tensor | None = None) -> torch.Tensor:
        """verl ``agg_loss`` over ``mask`` (default: the response mask)."""
        from verl.trainer.ppo.core_algos import agg_loss

        return agg_loss(loss_mat=loss_mat, loss_mask=self.mask if mask is None else mask, loss_agg_mode=mode,
                        **self.global_info)

    def aggregate_selected(self, loss_mat: torch.Tensor, mode: str, selected: torch.Tensor,
                           denominator: str) -> torch.Tensor:
        """Aggregate a term that lives on ``selected`` tokens.

        ``all``: zero outside the selection, normalised like every other term (verl's denominator).
        ``selected``: a mean over the selected tokens of this loss call, weighted by the call's share
        of the mini-batch's tokens, so the sum over micro-batches is a weighted mean; with a single
        micro-batch it is exactly the mean over selected tokens (the 80/20 paper's normaliser).
        """
        from verl.trainer.ppo.core_algos import agg_loss

        sel = selected & self.mask                                         # [B, T]
        if denominator == "all":
            return self.aggregate(loss_mat * sel, mode)
        if not bool(sel.any()):
            return (loss_mat * 0.0).sum()  # keeps the graph, contributes nothing
        share = self.aggregate(torch.ones_like(loss_mat), mode)           # this call's share of the mini-batch
        local = agg_loss(loss_mat=loss_mat, loss_mask=sel, loss_agg_mode=mode)  # mean over selected (local)
        return local * share


@dataclass
class LossOutput:
    loss: torch.Tensor                 # [] scalar
    metrics: dict[str, float]          # namespaced floats, e.g. {"method/low_frac": 0.8}


class LossMethod:
    """Base class of every method. Subclasses set the class attributes and implement ``compute``.

    Class attributes:
        name: registry key (also the Hydra ``method=`` choice).
        label: how tables and figures print it (default ``w/ <name>``); read torch-free by
            ``methods/catalog.py``, so keep it (and the attributes below) literal.
        version: bump whenever the method's numbers change (recorded in every run's meta.json).
        params_cls: the frozen hyperparameter dataclass.
        paper: one line naming the paper/section the method comes from.
        needs_entropy / needs_ref: what the core must compute for this method.
        default_curriculum: the curriculum the method uses unless the sweep overrides it.
        uses_covariance: its token selection reads Cov_t (the trainers log a covariance histogram).
        selection_metrics: the ``method/*`` metrics that say what fraction of tokens it acts on
            (the embedded calibration report prints them).
        paper_order: its row in the paper's tables (SENT Table I); None: not a paper row (reports
            list it after the paper's methods, by name).
        color: its fixed colour in figures ("": one from the figure palette).
        baseline: the method every other is compared with in reports (GRPO: the paper compares with it).
        scale_rules: ``{field: rule}`` of its per-scale calibration (docs/calibration.md): "E" (an
            entropy coefficient: the one lambda rule E derives), "F" (a token fraction) or
            "F/<field>" (a fraction counted within the share ``<field>`` of the tokens).
        scale_probe: the measurement key under which the calibration records the norm of the
            gradient of its rule-E term per unit coefficient ("g_h": the one that defines lambda).
        scale_note: extra comment lines of its per-scale file, formatted with the derivation's values.

    Per-method state (a controller's integral, a running statistic): a method that needs state
    across loss calls returns its initial values from :meth:`init_state` (a flat dict of floats).
    The trainer owns the dict (``config.method_state``), saves it in its checkpoints and restores
    it on resume; the core hands it to the method as ``batch.state``, and ``compute`` updates it
    in place. State must be *additive* (a loss call adds increments to its values): the core
    reports each call's increments as ``SUM`` metrics (``method_state_delta/<key>``), from which
    the verl trainer, whose loss runs in the workers, rebuilds the state on the driver.
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    version: ClassVar[int] = 1
    params_cls: ClassVar[type[MethodParams]]
    paper: ClassVar[str] = ""
    needs_entropy: ClassVar[bool] = True
    needs_ref: ClassVar[bool] = False
    default_curriculum: ClassVar[str] = "none"
    uses_covariance: ClassVar[bool] = False
    selection_metrics: ClassVar[tuple[str, ...]] = ()
    paper_order: ClassVar[int | None] = None
    color: ClassVar[str] = ""
    baseline: ClassVar[bool] = False
    scale_rules: ClassVar[dict[str, str]] = {}
    scale_probe: ClassVar[str] = ""
    scale_note: ClassVar[str] = ""

    def __init__(self, params: MethodParams | None = None, **overrides: Any):
        if params is None:
            params = make_params(self.params_cls, overrides)
        elif overrides:
            params = make_params(self.params_cls, {**dataclasses.asdict(params), **overrides})
        if not isinstance(params, self.params_cls):
            raise ConfigError(f"method {self.name!r} expects {self.params_cls.__name__}, got {type(params).__name__}")
        params.validate()
        self.params = params

    # ---- what the core asks of a method -------------------------------------------------------
    def requires_ref(self) -> bool:
        """True when the loss reads ``ref_log_prob``: ``needs_ref``, or a positive ``kl_coef``."""
        return self.needs_ref or float(getattr(self.params, "kl_coef", 0.0)) > 0

    def requires_entropy(self) -> bool:
        return self.needs_entropy

    def init_state(self) -> dict[str, float]:
        """Initial per-run state of a stateful method (``{}``: the method keeps no state)."""
        return {}

    def stateful(self) -> bool:
        return bool(self.init_state())

    def select(self, batch: PolicyBatch) -> dict[str, torch.Tensor]:
        """Token selections of this method (bool ``[B, T]`` masks), computed from detached tensors.

        Called inside the loss for ``scope='micro'``; called once by the core over the whole rollout
        batch for ``scope='batch'`` (with rollout-time entropy and log-probs), the result then arrives
        in ``batch.selection``. Methods that select nothing return ``{}``.
        """
        return {}

    def selections(self, batch: PolicyBatch) -> dict[str, torch.Tensor]:
        """The selections to use in this loss call (precomputed for batch scope, else computed now)."""
        scope = getattr(self.params, "scope", "micro")
        if scope == "batch":
            keys = self.selection_keys()
            missing = [k for k in keys if k not in batch.selection]
            if missing:
                raise ConfigError(
                    f"method {self.name!r} has scope='batch' but the batch carries no precomputed selection "
                    f"{missing}; call core.loss.precompute_selection on the rollout batch before the update "
                    f"(the embedded trainer and the verl trainer do this), or use scope='micro'.")
            return {k: batch.selection[k].to(torch.bool) for k in keys}
        return self.select(batch)

    def selection_keys(self) -> tuple[str, ...]:
        """Names of the masks ``select`` returns (fixed per method)."""
        return ()

    def compute(self, batch: PolicyBatch) -> LossOutput:
        raise NotImplementedError

    def __call__(self, batch: PolicyBatch) -> LossOutput:
        return self.compute(batch)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


def make_params(cls: type[MethodParams], values: Mapping[str, Any]) -> MethodParams:
    """Build a params dataclass from a mapping, rejecting unknown keys with a clear error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        import difflib

        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, names, n=1)
            hints.append(f"{u!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"unknown hyperparameter(s) for {cls.__name__}: {', '.join(hints)}. "
                          f"Valid: {sorted(names)}")
    return cls(**dict(values))
