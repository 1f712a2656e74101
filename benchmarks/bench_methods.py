"""Cost of every registered method's loss relative to GRPO, and peak memory of the entropy computation.

1. Loss time: forward + backward through ``core.loss.harness_loss`` (the one entry point verl and the
   embedded trainer call) on one realistic batch: B responses x T tokens (default 64 x 512) with
   variable lengths, log-probs and entropy requiring grad, old and reference log-probs, GRPO
   advantages over groups of 8. Methods run round-robin (side by side, same load), median CPU time
   of ``--repeats`` after ``--warmup``; each median is divided by GRPO's. Target: <= 1.10x (PASS/FAIL).
2. Entropy memory: verl's ``entropy_from_logits`` and ``entropy_from_logits_with_chunking`` on
   logits [N, V] (default N = 8 x 512, V = 32000), fp32 and bf16, each in a fresh process: the
   peak-RSS increase (``VmHWM``, reset after allocating) over the logits, as a ratio to their size.
   Target: chunked never holds a second full [N, V] fp32 copy, i.e. extra < N*V*4 bytes (PASS/FAIL).
   ``infer`` is the no-grad pass (old log-probs); ``train`` adds the backward (its [N, V] gradient
   included), where verl's chunking alone does not help (verl has ``entropy_checkpointing`` for it).
   The harness has no entropy kernel of its own under ``core/``: verl computes entropy in its engine,
   and the embedded trainer uses ``-(log_softmax * exp(log_softmax)).sum(-1)`` over its 19-token vocabulary.

Run (CPU, about a minute on 2 cores; numbers move with machine load, the ratios much less):

    python benchmarks/bench_methods.py                    # both parts
    python benchmarks/bench_methods.py --skip-memory      # loss times only
    python benchmarks/bench_methods.py --train            # entropy memory with the backward too (slower)
    python benchmarks/bench_methods.py --B 64 --T 512 --repeats 20 --N 4096 --V 32000 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# quiet verl's import-time notices (no GPU platform, optional engines missing), here and in the children
os.environ.setdefault("VERL_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:verl.workers.engine")
warnings.filterwarnings("ignore", category=UserWarning, module="verl.workers.engine")

TIME_TARGET = 1.10
GROUP = 8


def make_batch(B: int, T: int, seed: int = 0):
    """One rollout batch of padded [B, T] tensors (see the module docstring)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(T // 4, T + 1, (B,), generator=g)                    # [B]
    mask = torch.arange(T)[None] < lengths[:, None]                               # [B, T] bool
    old = -torch.rand(B, T, generator=g).pow(2) * 4                               # [B, T] log pi_old <= 0
    lp = (old + 0.05 * torch.randn(B, T, generator=g)).clamp(max=0)               # [B, T] log pi_theta
    ref = (old + 0.1 * torch.randn(B, T, generator=g)).clamp(max=0)               # [B, T] log pi_ref
    ent = torch.rand(B, T, generator=g) * 3                                       # [B, T] H_t in nats
    reward = (torch.rand(B, generator=g) < 0.4).float().view(-1, GROUP)           # [B/G, G] 0/1 outcome
    adv = (reward - reward.mean(1, keepdim=True)) / (reward.std(1, keepdim=True) + 1e-6)  # [B/G, G] GRPO
    adv = adv.reshape(B, 1).expand(B, T) * mask                                   # [B, T]
    data = {"response_mask": mask, "old_log_probs": old * mask, "advantages": adv, "ref_log_prob": ref * mask,
            "old_entropy": ent * mask, "dp_size": 1, "batch_num_tokens": int(mask.sum()), "global_batch_size": B}
    return (lp * mask), (ent * mask), data


def time_losses(B: int, T: int, repeats: int, warmup: int) -> dict[str, float]:
    """Median CPU seconds of forward + backward through harness_loss, per method (round-robin).

    CPU time of this process, not wall time: on a shared machine the wall clock mostly measures how
    long the process waited for a core, which swamps differences of a few milliseconds."""

    from core.loss import LossConfig, MethodSpec, harness_loss, method_from_config
    from methods import method_names

    lp0, ent0, data = make_batch(B, T)
    names = method_names()
    configs = {}
    for n in names:
        cfg = LossConfig(policy_loss=MethodSpec(n, {}))
        cfg.use_kl_loss = method_from_config(cfg.policy_loss).requires_ref()
        configs[n] = cfg
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + repeats):
        for n in names:
            lp = lp0.clone().requires_grad_(True)                                 # [B, T]
            ent = ent0.clone().requires_grad_(True)                               # [B, T]
            t = time.process_time()
            loss, _ = harness_loss(configs[n], {"log_probs": lp, "entropy": ent}, data)
            loss.backward()
            dt = time.process_time() - t
            if r >= warmup:
                times[n].append(dt)
    return {n: statistics.median(v) for n, v in times.items()}


# ---- entropy memory: one fresh process per measurement -----------------------------------------

def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def _measure_entropy(variant: str, dtype: str, mode: str, N: int, V: int, chunk: int, threads: int, conn) -> None:
    """In a fresh process: peak RSS above the allocated logits while one entropy variant runs."""
    import torch
    from verl.utils.torch_functional import entropy_from_logits, entropy_from_logits_with_chunking

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fn = {"verl_full": entropy_from_logits,
          "verl_chunked": lambda x: entropy_from_logits_with_chunking(x, chunk_size=chunk)}[variant]
    small = torch.randn(64, V, dtype=getattr(torch, dtype), requires_grad=mode == "train")
    out = fn(small)                                                     # warm up kernels and thread pools
    if mode == "train":
        out.sum().backward()
    del small, out
    logits = torch.empty(N, V, dtype=getattr(torch, dtype)).normal_()   # [N, V] in place: no temporary copy
    logits.requires_grad_(mode == "train")
    base = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:                       # reset the peak (VmHWM) to VmRSS
        f.write("5")
    t = time.perf_counter()
    if mode == "train":
        fn(logits).sum().backward()                                     # [N] entropies, then d/dlogits [N, V]
    else:
        with torch.no_grad():
            fn(logits)                                                  # [N]
    dt = time.perf_counter() - t
    extra = max(_status_kib("VmHWM") - base, 0) * 1024
    conn.send((logits.numel() * logits.element_size(), extra, dt))


def measure_memory(N: int, V: int, dtypes: list[str], modes: list[str], chunks: list[int], threads: int) -> list[dict]:
    """Each measurement in its own process, forked from a server that has only imported torch and verl
    (so verl's import, several seconds, is paid once)."""
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "verl.utils.torch_functional"])
    rows = []
    for dtype in dtypes:
        for mode in modes:
            for variant, chunk in [("verl_full", 0)] + [("verl_chunked", c) for c in chunks]:
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_measure_entropy, args=(variant, dtype, mode, N, V, chunk, threads, send))
                proc.start()
                send.close()
                if not recv.poll(300):
                    proc.kill()
                    raise RuntimeError(f"{variant} {dtype} {mode}: no result within 300 s")
                size, extra, dt = recv.recv()
                proc.join()
                rows.append({"variant": variant if not chunk else f"{variant}({chunk})", "dtype": dtype,
                             "mode": mode, "logits": size, "extra": extra, "s": dt, "fp32_copy": N * V * 4})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--B", type=int, default=64, help="responses in the loss batch")
    p.add_argument("--T", type=int, default=512, help="response tokens per row (padded)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--N", type=int, default=8 * 512, help="rows of the logits (B x T)")
    p.add_argument("--V", type=int, default=32000, help="vocabulary size")
    p.add_argument("--chunks", default="2048,256", help="chunk sizes for the chunked variant (2048 = verl default)")
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--train", action="store_true", help="also measure entropy memory with the backward")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: with 2+ threads on a busy machine every small kernel waits on a "
                        "descheduled thread, ~25 ms instead of ~0.3 ms, and the timings measure the load)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-time", action="store_true")
    a = p.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    failed = 0
    if not a.skip_time:
        t0 = time.perf_counter()
        med = time_losses(a.B, a.T, a.repeats, a.warmup)
        base = med["grpo"]
        print(f"\nloss forward+backward through core.loss.harness_loss, B={a.B} x T={a.T}, median of "
              f"{a.repeats} (round-robin, {time.perf_counter() - t0:.1f} s in all); target <= {TIME_TARGET:.2f}x GRPO")
        print(f"{'method':<15}{'CPU ms':>9}{'x GRPO':>9}  verdict")
        for n, s in sorted(med.items(), key=lambda kv: kv[1]):
            ratio = s / base
            ok = ratio <= TIME_TARGET
            failed += not ok
            print(f"{n:<15}{s * 1e3:>9.2f}{ratio:>9.3f}  {'PASS' if ok else 'FAIL'}")
    if not a.skip_memory:
        t0 = time.perf_counter()
        modes = ["infer", "train"] if a.train else ["infer"]
        rows = measure_memory(a.N, a.V, a.dtypes.split(","), modes, [int(c) for c in a.chunks.split(",")], a.threads)
        print(f"\nentropy peak memory over the logits [N={a.N}, V={a.V}], fresh process each "
              f"({time.perf_counter() - t0:.1f} s in all); target for chunked variants in 'infer': "
              f"extra < one full fp32 [N, V] copy")
        print(f"{'variant':<20}{'dtype':<10}{'mode':<7}{'logits MiB':>11}{'extra MiB':>11}{'extra/logits':>13}"
              f"{'extra/fp32 copy':>16}{'s':>7}  verdict")
        for r in rows:
            ratio, vs_fp32 = r["extra"] / r["logits"], r["extra"] / r["fp32_copy"]
            verdict = "-"
            if r["variant"].startswith("verl_chunked") and r["mode"] == "infer":
                verdict = "PASS" if vs_fp32 < 1.0 else "FAIL"
                failed += verdict == "FAIL"
            print(f"{r['variant']:<20}{r['dtype']:<10}{r['mode']:<7}{r['logits'] / 2**20:>11.0f}"
                  f"{r['extra'] / 2**20:>11.0f}{ratio:>13.2f}{vs_fp32:>16.2f}{r['s']:>7.2f}  {verdict}")
    print(f"\n{failed} target(s) missed" if failed else "\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
