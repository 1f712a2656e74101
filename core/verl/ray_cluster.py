"""One verl run across several nodes: the Ray cluster formed inside a SLURM job (``backend.nnodes=N``).

verl runs across nodes on a Ray cluster (``trainer.nnodes``, ``trainer.n_gpus_per_node``); this module
forms that cluster inside the job that holds the run's N nodes and tears it down on exit.

With ``hydra/launcher=slurm`` a run with ``backend.nnodes=N`` is one SLURM job of N nodes and one task
per node (``sweeps/hydra/launcher/slurm.yaml``: ``nodes: ${backend.nnodes}``); submitit starts the same
Hydra job in each task and :func:`core.verl.backend.run` asks :func:`role` what this task is:

* node 0 (``SLURM_NODEID=0``) is the **head**: it starts ``ray start --head --block`` on a port block
  chosen from the job id (:func:`choose_ports`: two runs sharing a node get different blocks, and a
  block in use is skipped), writes the head address to ``<run_dir>/verl/ray_head.json`` (the run
  directory is on the shared filesystem the runs need anyway), waits until all N nodes have joined,
  runs the verl driver (``main_ppo``, with ``RAY_ADDRESS`` set) on this node, and on exit stops its
  Ray processes (its own ``ray start`` process group, by PID; never ``ray stop``, which would stop
  another run's Ray on a shared node) and marks the file ``stopped``;
* every other node is a **worker**: it waits for this job attempt's head address, starts
  ``ray start --address=<head> --block`` with the node's resources, and stops it when the head marks
  the file stopped (or its Ray dies). Its task returns ``None``; submitit keeps task 0's result.

A requeued job (same job id, ``SLURM_RESTART_COUNT`` + 1) forms a fresh cluster (the file records the
attempt, so a worker never joins a stale head) and the driver resumes from the last verl checkpoint as
on one node. The node list comes from ``scontrol show hostnames`` when SLURM is there, else from
:func:`parse_nodelist` (forms such as ``gpu[01-03,07]``, ``a[1-2]-ib,b7``).

Outside SLURM, ``RAY_ADDRESS`` names a running cluster of N nodes started by hand (this process is then
only verl's driver). tests/verl_e2e/test_two_nodes.py runs the real engine on two Ray nodes of one
machine through the SLURM path above (two tasks with the environment of a two-node job).

This module owns the topology (node lists, port blocks, ``ray start`` command lines, this task's role,
the layout check the SLURM launcher runs before submission) and starts nothing; the Ray processes
(:class:`core.verl.ray_nodes.SlurmHead`, :func:`core.verl.ray_nodes.run_worker`) are
core/verl/ray_nodes.py. Imports only the standard library.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import zlib
from dataclasses import dataclass
from typing import Callable, Mapping

__all__ = ["parse_nodelist", "job_hostnames", "RayPorts", "choose_ports", "head_command", "worker_command",
           "node_ip", "Role", "role", "ClusterError", "layout_problems", "describe", "PORT_BASE", "PORT_SLOTS"]

#: port blocks live in [PORT_BASE, PORT_BASE + PORT_SLOTS * RayPorts.SIZE): below Linux's ephemeral range
#: (32768-60999) and above Ray's default worker ports (10002-19999)
PORT_BASE = 20000
PORT_SLOTS = 1600  # 20000 + 1600 * 8 = 32800


class ClusterError(RuntimeError):
    """The multi-node Ray cluster could not be formed (raised with what to check)."""


# ---------------------------------------------------------------------------------------------
# SLURM node lists
# ---------------------------------------------------------------------------------------------

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _expand_brackets(body: str, text: str) -> list[str]:
    out = []
    for part in body.split(","):
        m = _RANGE.match(part.strip())
        if not m:
            raise ValueError(f"bad range {part!r} in SLURM node list {text!r}")
        lo, hi = m.group(1), m.group(2)
        if hi is None:
            out.append(lo)
            continue
        if int(hi) < int(lo):
            raise ValueError(f"descending range {part!r} in SLURM node list {text!r}")
        width = len(lo) if lo.startswith("0") else 0  # 01-03 keeps the zero padding; 8-10 does not pad
        out += [f"{i:0{width}d}" for i in range(int(lo), int(hi) + 1)]
    return out


def parse_nodelist(text: str) -> list[str]:
    """Expand a SLURM host list (``SLURM_JOB_NODELIST``) into host names, in order.

    ``gpu[01-03,07]`` -> gpu01 gpu02 gpu03 gpu07; ``a[1-2]-ib[3,5],login`` -> a1-ib3 a1-ib5 a2-ib3
    a2-ib5 login; zero padding follows the range's lower bound, as SLURM does. Raises ``ValueError``
    on a malformed list (unbalanced brackets, empty names, bad ranges).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty SLURM node list")
    hosts: list[str] = []
    prefixes, token = [""], ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "[":
            j = text.find("]", i)
            if j < 0 or "[" in text[i + 1:j]:
                raise ValueError(f"unbalanced '[' in SLURM node list {text!r}")
            suffixes = _expand_brackets(text[i + 1:j], text)
            prefixes = [p + token + s for p in prefixes for s in suffixes]
            token, i = "", j + 1
            continue
        if c == "]":
            raise ValueError(f"unbalanced ']' in SLURM node list {text!r}")
        if c == ",":
            names = [p + token for p in prefixes]
            if not all(names):
                raise ValueError(f"empty host name in SLURM node list {text!r}")
            hosts += names
            prefixes, token = [""], ""
        else:
            token += c
        i += 1
    names = [p + token for p in prefixes]
    if not all(names):
        raise ValueError(f"empty host name in SLURM node list {text!r}")
    return hosts + names


def job_hostnames(env: Mapping[str, str] | None = None) -> list[str]:
    """The job's hosts in SLURM's order (node 0 first): ``scontrol show hostnames`` when SLURM is
    installed (the authority), else :func:`parse_nodelist`; checked against ``SLURM_JOB_NUM_NODES``."""
    env = os.environ if env is None else env
    text = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not text:
        raise ClusterError("SLURM_JOB_NODELIST is not set: not inside a SLURM job")
    hosts = None
    if shutil.which("scontrol"):
        res = subprocess.run(["scontrol", "show", "hostnames", text], capture_output=True, text=True, timeout=30)
        if res.returncode == 0 and res.stdout.strip():
            hosts = res.stdout.split()
    hosts = hosts or parse_nodelist(text)
    want = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES")
    if want and int(want) != len(hosts):
        raise ClusterError(f"SLURM_JOB_NODELIST={text!r} names {len(hosts)} host(s) but SLURM_JOB_NUM_NODES={want}")
    return hosts


# ---------------------------------------------------------------------------------------------
# ports and ray start commands
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RayPorts:
    """One node's fixed Ray ports: a block of :attr:`SIZE` consecutive ports from ``base``.

    Ray's defaults (GCS 6379, client server 10001, dashboard agent 52365, ...) are the same for every
    run, so two runs with a node in common would collide; each run takes its own block instead.
    """

    base: int
    SIZE = 8

    @property
    def gcs(self) -> int:  # the head's address port (``ray start --port``)
        return self.base

    def flags(self, *, head: bool) -> list[str]:
        b = self.base
        out = [f"--node-manager-port={b + 1}", f"--object-manager-port={b + 2}",
               f"--dashboard-agent-grpc-port={b + 3}", f"--dashboard-agent-listen-port={b + 4}",
               f"--metrics-export-port={b + 5}", f"--runtime-env-agent-port={b + 6}"]
        if head:
            out = [f"--port={b}", f"--ray-client-server-port={b + 7}"] + out
        return out

    def all(self) -> range:
        return range(self.base, self.base + self.SIZE)


def port_free(port: int, host: str = "") -> bool:
    """Whether ``port`` can be bound here now (TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def choose_ports(job_id: str, *, offset: int = 0, is_free: Callable[[int], bool] = port_free,
                 tries: int = 64) -> RayPorts:
    """The port block of one node of a run: slot ``crc32(job id) + offset`` (node rank as ``offset``, so
    nodes of one run that share a host never pick the same block), moving to the next slot while any
    port of the block is in use here (another run's Ray, or anything else)."""
    start = zlib.crc32(str(job_id).encode()) + int(offset)
    for k in range(tries):
        ports = RayPorts(PORT_BASE + ((start + k) % PORT_SLOTS) * RayPorts.SIZE)
        if all(is_free(p) for p in ports.all()):
            return ports
    raise ClusterError(f"no free block of {RayPorts.SIZE} ports among {tries} tried from "
                       f"{PORT_BASE + (start % PORT_SLOTS) * RayPorts.SIZE} on {socket.gethostname()}")


def _resources(num_cpus: int | None, num_gpus: int | None) -> list[str]:
    out = []
    if num_cpus is not None:
        out.append(f"--num-cpus={int(num_cpus)}")
    if num_gpus is not None:
        out.append(f"--num-gpus={int(num_gpus)}")
    return out


def ray_cli() -> list[str]:
    """``ray`` run by this interpreter: Ray starts its worker processes with the interpreter of ``ray
    start``, so they must be this environment's (a ``ray`` script on PATH may belong to another one,
    e.g. the main environment instead of .venv-verl-cpu, whose workers then lack vLLM)."""
    return [sys.executable, "-m", "ray.scripts.scripts"]


def head_command(ports: RayPorts, *, node_ip: str, num_cpus: int | None, num_gpus: int | None,
                 temp_dir: str | None = None) -> list[str]:
    """``ray start --head --block`` on ``node_ip`` with this run's ports and the node's resources."""
    cmd = [*ray_cli(), "start", "--head", "--block", f"--node-ip-address={node_ip}",
           *ports.flags(head=True), "--include-dashboard=false", "--disable-usage-stats",
           *_resources(num_cpus, num_gpus)]
    return cmd + ([f"--temp-dir={temp_dir}"] if temp_dir else [])


def worker_command(address: str, ports: RayPorts, *, node_ip: str, num_cpus: int | None,
                   num_gpus: int | None) -> list[str]:
    """``ray start --address=<head> --block`` on ``node_ip`` with this node's ports and resources."""
    return [*ray_cli(), "start", f"--address={address}", "--block", f"--node-ip-address={node_ip}",
            *ports.flags(head=False), "--disable-usage-stats", *_resources(num_cpus, num_gpus)]


def node_ip(host: str | None = None) -> str:
    """The address other nodes reach ``host`` (default: this one) at."""
    host = host or socket.gethostname()
    try:
        return socket.gethostbyname(host)
    except OSError as e:
        raise ClusterError(f"cannot resolve host {host!r} to an address: {e}") from e


# ---------------------------------------------------------------------------------------------
# the role of this process in a run with backend.nnodes > 1
# ---------------------------------------------------------------------------------------------

@dataclass
class Role:
    """What this task of a multi-node run does: ``driver`` (node 0: the Ray head + verl's driver),
    ``worker`` (another node: a Ray worker node), or ``external`` (``RAY_ADDRESS`` names a running
    cluster; this process is only the driver)."""

    kind: str
    node_rank: int = 0
    hosts: tuple[str, ...] = ()
    address: str | None = None


def role(nnodes: int, env: Mapping[str, str] | None = None) -> Role:
    """This process's part in a run of ``nnodes`` nodes; raises :class:`ClusterError` when it has no
    cluster to run on (one clear line with the fix)."""
    env = os.environ if env is None else env
    if nnodes < 2:
        return Role("single")
    if env.get("RAY_ADDRESS"):
        return Role("external", address=env["RAY_ADDRESS"])
    if env.get("SLURM_JOB_ID") and (env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")):
        hosts = job_hostnames(env)
        if len(hosts) != nnodes:
            raise ClusterError(f"backend.nnodes={nnodes} but this SLURM job holds {len(hosts)} node(s) "
                               f"({', '.join(hosts)}); submit with hydra/launcher=slurm (it asks for backend.nnodes "
                               f"nodes) or set hydra.launcher.nodes={nnodes}")
        ntasks = int(env.get("SLURM_NTASKS", nnodes))
        if ntasks != nnodes:
            raise ClusterError(f"backend.nnodes={nnodes} needs one task per node, this job has {ntasks} task(s); "
                               "keep hydra.launcher.tasks_per_node=1")
        rank = int(env.get("SLURM_NODEID", env.get("SLURM_PROCID", "0")))
        return Role("driver" if rank == 0 else "worker", node_rank=rank, hosts=tuple(hosts))
    raise ClusterError(f"backend.nnodes={nnodes} needs a Ray cluster of {nnodes} nodes: submit with "
                       "hydra/launcher=slurm (one job of backend.nnodes nodes forms it), or set RAY_ADDRESS to a "
                       "running cluster's head (ray start --head / ray start --address on each node)")


# ---------------------------------------------------------------------------------------------
# layout checks (before submission; no verl import)
# ---------------------------------------------------------------------------------------------

def layout_problems(*, nnodes: int, n_gpus_per_node: int, rollout_tp: int, train_batch_size: int,
                    ppo_mini_batch_size: int, rollout_n: int) -> list[str]:
    """What makes a verl layout impossible on ``nnodes`` x ``n_gpus_per_node`` GPUs (FSDP actor, vLLM
    rollout): one line per problem with the fix. verl's own ``validate_config`` finds the batch ones
    too, but only after importing verl; the SLURM launcher calls this before submitting."""
    out = []
    world = nnodes * n_gpus_per_node
    if rollout_tp < 1 or n_gpus_per_node % rollout_tp:
        out.append(f"model.verl.rollout_tp={rollout_tp} must divide backend.n_gpus_per_node={n_gpus_per_node} "
                   "(a vLLM replica lives inside one node); change one of them")
    seqs = train_batch_size * rollout_n
    if seqs % world:
        out.append(f"{train_batch_size} prompts x {rollout_n} samples = {seqs} sequences per step do not split over "
                   f"{world} GPUs (backend.nnodes={nnodes} x backend.n_gpus_per_node={n_gpus_per_node}); use a GPU "
                   f"count that divides {seqs}")
    mini = ppo_mini_batch_size * rollout_n
    if mini % world:  # verl's engine worker asserts it at the first update, hours into a run
        out.append(f"the PPO mini-batch of {mini} sequences does not split over {world} GPUs; use a GPU count that "
                   f"divides {mini}")
    return out


def describe(nnodes: int | None = None, env: Mapping[str, str] | None = None, *, num_cpus: int | None = None,
             num_gpus: int | None = None) -> str:
    """What a multi-node run would start in this SLURM allocation (``python -m core.verl.ray_cluster``):
    the job's hosts, each node's role and ``ray start`` command (port blocks as chosen now, on this node)."""
    env = os.environ if env is None else env
    hosts = job_hostnames(env)
    if nnodes is not None and nnodes != len(hosts):
        raise ClusterError(f"backend.nnodes={nnodes} but this allocation holds {len(hosts)} node(s)")
    job = env.get("SLURM_JOB_ID", "")
    lines = [f"job {job}: {len(hosts)} node(s) from SLURM_JOB_NODELIST={env.get('SLURM_JOB_NODELIST')}: "
             + " ".join(hosts)]
    head = choose_ports(job)
    address = f"{node_ip(hosts[0])}:{head.gcs}"
    for k, host in enumerate(hosts):
        if k == 0:
            cmd = head_command(head, node_ip=node_ip(host), num_cpus=num_cpus, num_gpus=num_gpus)
        else:
            cmd = worker_command(address, choose_ports(job, offset=k), node_ip=node_ip(host), num_cpus=num_cpus,
                                 num_gpus=num_gpus)
        lines.append(f"node {k} {host} ({'head + verl driver' if k == 0 else 'worker'}): "
                     + " ".join(["ray"] + cmd[len(ray_cli()):]))
    return "\n".join(lines)


if __name__ == "__main__":  # inside an allocation (sbatch/salloc -N N): what backend.nnodes=N would start
    import argparse

    ap = argparse.ArgumentParser(description=describe.__doc__)
    ap.add_argument("--num-cpus", type=int)
    ap.add_argument("--num-gpus", type=int)
    a = ap.parse_args()
    try:
        print(describe(num_cpus=a.num_cpus, num_gpus=a.num_gpus))
    except (ClusterError, ValueError) as e:
        sys.exit(f"core.verl.ray_cluster: {e}")
