"""The Ray processes of a multi-node verl run (``backend.nnodes=N``): each node's ``ray start --block``
in its own process group (:class:`RayNode`), the head on node 0 of the SLURM job (:class:`SlurmHead`: start,
publish the address in ``<run_dir>/verl/ray_head.json``, wait for every node, stop), a worker on every
other node (:func:`run_worker`), Ray token authentication per job attempt, and queries of a running
cluster (:func:`alive_nodes`, :func:`placement`).

The topology these act on (node lists, port blocks, ``ray start`` commands, this task's role) is
core/verl/ray_cluster.py, the only module of ``core`` this one imports besides ``core.runlog``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from core.runlog import atomic_write
from core.verl.ray_cluster import ClusterError, Role, choose_ports, head_command, node_ip, worker_command

__all__ = ["RayNode", "alive_nodes", "wait_for_nodes", "placement", "auth_env", "SlurmHead", "run_worker", "HEAD_FILE"]

#: the head's address, attempt and state, on the shared filesystem (``<run_dir>/verl/``)
HEAD_FILE = "ray_head.json"

class RayNode:
    """One ``ray start --block`` process in its own session; :meth:`stop` ends it and everything it
    started (its process group, by id: ``ray stop`` would also stop other runs' Ray on the node)."""

    def __init__(self, cmd: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None):
        self.cmd = list(cmd)
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the process group (``ray start --block`` stops its raylet/GCS), SIGKILL after ``grace``."""
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + wait
            while time.monotonic() < end and _group_alive(pgid):
                time.sleep(0.2)
            if not _group_alive(pgid):
                break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a group of zombies only (reaped late by init) counts as dead; psutil comes with verl (accelerate)
    try:
        import psutil
    except ImportError:
        return True

    for p in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def alive_nodes(address: str, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> list[dict]:
    """The alive nodes of the Ray cluster at ``address`` (``ray.nodes()`` read in a short-lived
    subprocess, so this process never becomes a Ray driver)."""
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print('NODES=' + json.dumps([{'NodeID': n['NodeID'], 'NodeManagerAddress': n['NodeManagerAddress'], "
            "'Resources': n['Resources']} for n in ray.nodes() if n['Alive']]))" % address)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {}), "RAY_ADDRESS": address})
    for line in res.stdout.splitlines():
        if line.startswith("NODES="):
            return json.loads(line[len("NODES="):])
    raise ClusterError(f"cannot read the Ray cluster at {address} (exit {res.returncode}): {res.stderr[-1500:]}")


def wait_for_nodes(address: str, n: int, timeout: float, *, check: Callable[[], None] | None = None,
                   env: Mapping[str, str] | None = None) -> list[dict]:
    """Block until the cluster at ``address`` has ``n`` alive nodes (``check`` raises to give up early)."""
    end = time.monotonic() + timeout
    nodes: list[dict] = []
    while time.monotonic() < end:
        if check:
            check()
        try:
            nodes = alive_nodes(address, env=env)
        except (ClusterError, subprocess.TimeoutExpired):
            nodes = []
        if len(nodes) >= n:
            return nodes
        time.sleep(2.0)
    raise ClusterError(f"only {len(nodes)} of {n} Ray nodes joined {address} within {timeout:.0f} s; "
                       "see the ray_*.log files of the run (verl/)")


_PLACEMENT = """
import json, ray
from ray._private import state
ray.init(address=%r, logging_level="ERROR", log_to_driver=False)
pgs = [{"id": k, "state": v["state"], "strategy": v["strategy"],
        "bundles_to_node_id": {str(i): n for i, n in v["bundles_to_node_id"].items()}}
       for k, v in ray.util.placement_group_table().items()]
actors = [{"class_name": a.get("ActorClassName") or a.get("Name"), "state": a.get("State"),
           "node_id": (a.get("Address") or {}).get("NodeID")} for a in state.actors().values()]
print("PLACEMENT=" + json.dumps({"placement_groups": pgs, "actors": actors}))
"""


def placement(address: str, timeout: float = 60.0, env: Mapping[str, str] | None = None) -> dict:
    """Where the work of the Ray cluster at ``address`` is: its alive nodes, every placement group's
    bundle -> node id map, and every actor's class and node id (read from Ray's GCS in a subprocess)."""
    res = subprocess.run([sys.executable, "-c", _PLACEMENT % address], capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, **(env or {}), "RAY_ADDRESS": address})
    for line in res.stdout.splitlines():
        if line.startswith("PLACEMENT="):
            return {"nodes": alive_nodes(address, timeout, env), **json.loads(line[len("PLACEMENT="):])}
    raise ClusterError(f"cannot read placement from {address} (exit {res.returncode}): {res.stderr[-1500:]}")


def auth_env(token_path: Path | str) -> dict[str, str]:
    """Ray token authentication with this job attempt's token: what every Ray process of the run (the
    ``ray start`` of each node, the driver, anything reading the cluster) gets in its environment."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}


def _new_token(path: Path) -> Path:
    """A fresh random token, readable by the job's user only (on the shared filesystem, like the run)."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    os.replace(tmp, path)
    return path


def _attempt_id(env: Mapping[str, str]) -> dict:
    return {"job_id": env.get("SLURM_JOB_ID", ""), "restart": int(env.get("SLURM_RESTART_COUNT", "0") or 0)}


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class SlurmHead:
    """Node 0 of a multi-node SLURM job: start the head, publish its address, wait for the workers.

    A context manager: on exit (normal, exception, or SIGTERM via the caller) the head's Ray processes
    are stopped by process group and the head file is marked stopped so workers stop theirs. The cluster
    uses Ray's token authentication with a fresh token per job attempt (``ray_auth_token.<restart>``,
    mode 0600, next to the head file); :attr:`auth` is the environment that reaches it.
    """

    def __init__(self, r: Role, *, state_dir: Path, num_cpus: int | None, num_gpus: int | None,
                 env: Mapping[str, str] | None = None, timeout: float = 600.0):
        self.r, self.state_dir, self.env = r, state_dir, os.environ if env is None else env
        self.num_cpus, self.num_gpus, self.timeout = num_cpus, num_gpus, timeout
        self.node: RayNode | None = None
        self.file = state_dir / HEAD_FILE

    def __enter__(self) -> str:
        attempt = _attempt_id(self.env)
        ip = node_ip(self.r.hosts[0]) if self.r.hosts else node_ip()
        ports = choose_ports(attempt["job_id"])
        self.address = f"{ip}:{ports.gcs}"
        token = _new_token(self.state_dir / f"ray_auth_token.{attempt['restart']}")
        self.auth = auth_env(token)
        self.node = RayNode(head_command(ports, node_ip=ip, num_cpus=self.num_cpus, num_gpus=self.num_gpus),
                            log=self.state_dir / f"ray_head.{attempt['restart']}.log", env=self.auth)
        _write_json(self.file, {**attempt, "address": self.address, "nnodes": len(self.r.hosts), "state": "running",
                                "auth_token_path": str(token)})
        print(f"[ray] head {self.address} on {self.r.hosts[0] if self.r.hosts else ip}; waiting for "
              f"{len(self.r.hosts)} nodes", flush=True)
        try:
            nodes = wait_for_nodes(self.address, len(self.r.hosts), self.timeout, check=self._check, env=self.auth)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        print(f"[ray] cluster of {len(nodes)} nodes: " + ", ".join(n["NodeManagerAddress"] for n in nodes), flush=True)
        return self.address

    def _check(self) -> None:
        if self.node is not None and not self.node.alive():
            raise ClusterError(f"the Ray head exited early; see {self.state_dir}/ray_head.*.log")

    def __exit__(self, *exc) -> None:
        data = _read_json(self.file) or {}
        _write_json(self.file, {**data, "state": "stopped"})
        if self.node is not None:
            self.node.stop()
            self.node = None


def run_worker(r: Role, *, state_dir: Path, num_cpus: int | None, num_gpus: int | None,
               env: Mapping[str, str] | None = None, timeout: float = 600.0, poll: float = 2.0) -> None:
    """A worker node of a multi-node SLURM job: join this attempt's head, stay until it is stopped."""
    env = os.environ if env is None else env
    attempt = _attempt_id(env)
    file = state_dir / HEAD_FILE
    end = time.monotonic() + timeout
    while True:
        data = _read_json(file)
        if data and {k: data.get(k) for k in attempt} == attempt and data.get("state") == "running":
            break
        if time.monotonic() > end:
            raise ClusterError(f"node {r.node_rank}: no Ray head of job {attempt['job_id']} (restart "
                               f"{attempt['restart']}) in {file} after {timeout:.0f} s")
        time.sleep(poll)
    ip = node_ip(r.hosts[r.node_rank]) if r.hosts else node_ip()
    ports = choose_ports(attempt["job_id"], offset=r.node_rank)
    node = RayNode(worker_command(data["address"], ports, node_ip=ip, num_cpus=num_cpus, num_gpus=num_gpus),
                   log=state_dir / f"ray_worker{r.node_rank}.{attempt['restart']}.log",
                   env=auth_env(data["auth_token_path"]))
    print(f"[ray] node {r.node_rank} joined {data['address']}", flush=True)
    try:
        while node.alive():
            now = _read_json(file) or data
            if now.get("state") != "running" or {k: now.get(k) for k in attempt} != attempt:
                break
            time.sleep(poll)
    finally:
        node.stop()
    print(f"[ray] node {r.node_rank} stopped", flush=True)
