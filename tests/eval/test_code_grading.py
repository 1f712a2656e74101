"""The code grader: extraction, verdicts on the shipped problems, and the sandbox limits."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest

from core.eval.code_grading import (CodeGrader, SandboxLimits, decode_tests, encode_tests, extract_code,
                               run_in_sandbox)
from core.eval.grading import get_grader

DATA = Path(__file__).parent / "data"
FAST = SandboxLimits(per_test_s=2.0, per_problem_s=8.0, memory_mb=512)


def fenced(code: str, lang: str = "python") -> str:
    return f"Here is my solution.\n```{lang}\n{code}\n```\nDone."


# known-correct and known-wrong programs for each problem of tests/eval/data/lcb_sample.jsonl
SOLUTIONS = {
    "lcbt_sum": {
        "correct": ["n = int(input())\nprint(sum(map(int, input().split())))",
                    "import sys\ndata = sys.stdin.read().split()\nprint(sum(int(x) for x in data[1:]))",
                    "def main():\n    input()\n    print(sum(map(int, input().split())))\n\nif __name__ == '__main__':\n"
                    "    main()",
                    # the real stdin/stdout of the process: open(0) (closes fd 0 when collected), os.read/os.write
                    "print(sum(map(int, open(0).read().split()[1:])))",
                    "import os\ndata = os.read(0, 1 << 20).split()\nos.write(1, (str(sum(map(int, data[1:]))) + '\\n').encode())"],
        "wrong": ["n = int(input())\nprint(sum(map(int, input().split())) + 1)",
                  "print(6)",  # passes the public test only
                  "n = int(input())\nprint(max(map(int, input().split())))"],
    },
    "lcbt_mean": {
        "correct": ["n = int(input())\na = list(map(int, input().split()))\nprint(f'{sum(a) / n:.2f}')",
                    # LiveCodeBench's rule: a line also matches as the same decimals ("7.0" vs "7.00")
                    "n = int(input())\na = list(map(int, input().split()))\nprint(round(sum(a) / n, 2))"],
        "wrong": ["n = int(input())\na = list(map(int, input().split()))\nprint(sum(a) // n)",
                  "n = int(input())\na = list(map(int, input().split()))\nprint(f'{sum(a) / n:.3f}')"],
    },
    "lcbt_two_sum": {
        "correct": ["class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
                    "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
                    "                return [seen[target - x], i]\n            seen[x] = i\n"],
        "wrong": ["class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]",
                  "class Solution:\n    def twoSum(self, nums, target):\n        return nums[:2]",
                  "class Solution:\n    def twoSumm(self, nums, target):\n        return [0, 1]"],  # wrong name
    },
    "lcbt_divmod": {
        "correct": ["class Solution:\n    def quotRem(self, a, b):\n        return divmod(a, b)",  # tuple == list
                    "class Solution:\n    def quotRem(self, a, b):\n        return [a // b, a % b]"],
        "wrong": ["class Solution:\n    def quotRem(self, a, b):\n        return [int(a / b), a % b]"],
    },
}


def lcb_golds() -> dict[str, str]:
    from core.eval.code_benchmarks import read_livecodebench

    return {p.question_id: p.to_problem().answer for p in read_livecodebench(DATA / "lcb_sample.jsonl")}


# --------------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------------

def test_extract_last_python_block():
    text = "```python\nprint(1)\n```\nthen\n```python\nprint(2)\n```\n```bash\npython a.py\n```"
    assert extract_code(text) == "print(2)\n"
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("~~~py\nx = 2\n~~~") == "x = 2\n"


@pytest.mark.parametrize("text", [None, "", "print(1)", "```python\nprint(1)\n", "```python\n\n```", "```text\n1\n```"])
def test_extract_nothing(text):
    assert extract_code(text) is None


def test_encode_tests_validates():
    with pytest.raises(ValueError, match="testtype"):
        encode_tests([{"input": "", "output": "", "testtype": "std"}])
    with pytest.raises(ValueError, match="fn_name"):
        encode_tests([{"input": "1", "output": "1", "testtype": "functional"}])
    with pytest.raises(ValueError, match="at least one test"):
        encode_tests([])
    spec = decode_tests(encode_tests([{"input": "1", "output": "1", "testtype": "stdin"}]))
    assert spec == {"fn_name": None, "tests": [{"input": "1", "output": "1", "testtype": "stdin"}]}


# --------------------------------------------------------------------------------------------------
# verdicts on the shipped problems
# --------------------------------------------------------------------------------------------------

def test_registered_beside_math():
    grader = get_grader("code")
    assert isinstance(grader, CodeGrader) and grader.name == "code"
    assert get_grader("math_verify").name == "math_verify"


def test_verdicts_on_livecodebench_format_problems():
    golds = lcb_golds()
    assert set(golds) == set(SOLUTIONS)
    responses, gold_list, expected = [], [], []
    for qid, sols in SOLUTIONS.items():
        for verdict in ("correct", "wrong"):
            for code in sols[verdict]:
                responses.append(fenced(code))
                gold_list.append(golds[qid])
                expected.append(verdict == "correct")
    grader = CodeGrader(FAST, workers=2)
    grades = grader.grade_many(responses, gold_list)
    got = [g.correct for g in grades]
    details = [(r.status, r.detail) for r in grader.last_results]
    assert got == expected, list(zip(got, expected, details))
    assert all(g.answer and g.answer.strip() in r for g, r in zip(grades, responses))


def test_public_only_solution_fails_on_private_tests():
    grader = CodeGrader(FAST, workers=1)
    grade = grader.grade(fenced("print(6)"), lcb_golds()["lcbt_sum"])
    assert not grade.correct
    r = grader.last_results[0]
    assert r.status == "wrong_answer" and r.n_passed == 1 and r.n_tests == 4


def _humaneval_rows(n=None):
    with gzip.open(DATA.parent.parent.parent / "data" / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    return rows[:n] if n else rows


def test_humaneval_canonical_correct_and_stub_wrong():
    from core.eval.benchmarks import load_benchmark

    problems = {p.id: p for p in load_benchmark("humaneval")}
    rows = _humaneval_rows(24)
    responses, golds, expected = [], [], []
    for row in rows:
        gold = problems[row["task_id"]].answer
        responses.append(fenced(row["prompt"] + row["canonical_solution"]))
        golds.append(gold)
        expected.append(True)
        # the signature and docstring with no real body: returns None
        responses.append(fenced(row["prompt"] + "    return None\n"))
        golds.append(gold)
        expected.append(False)
    grader = CodeGrader(FAST, workers=2)
    got = [g.correct for g in grader.grade_many(responses, golds)]
    assert got == expected, [(r["task_id"], s.status) for r, s in zip(rows * 2, grader.last_results)]


# --------------------------------------------------------------------------------------------------
# the sandbox
# --------------------------------------------------------------------------------------------------

STDIN_SPEC = {"fn_name": None, "tests": [{"input": "3\n1 2 3\n", "output": "6\n", "testtype": "stdin"}]}


@pytest.mark.parametrize("code,status", [
    ("while True:\n    pass", "timeout"),
    ("import time\ntime.sleep(30)", "timeout"),
    ("x = bytearray(8 * 1024 ** 3)", "memory"),
    ("raise ValueError('boom')", "runtime_error"),
    ("def f(:\n  pass", "compile_error"),
    ("import os\nos.abort()", "crashed"),
    ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.connect(('93.184.216.34', 80))\n"
     "print(6)", "runtime_error"),
    ("import os\nos.fork()\nprint(6)", "runtime_error"),
    ("import subprocess\nsubprocess.run(['echo', '6'])", "runtime_error"),
])
def test_sandbox_misbehaving_programs(code, status):
    r = run_in_sandbox(code, STDIN_SPEC, FAST)
    assert not r.passed and r.status == status, r


def test_timeout_that_ignores_the_alarm_kills_the_process_group():
    code = ("import signal, threading, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
            "threading.Thread(target=lambda: time.sleep(60), daemon=False).start()\nwhile True:\n    pass")
    t0 = time.monotonic()
    r = run_in_sandbox(code, STDIN_SPEC, SandboxLimits(per_test_s=1, per_problem_s=3, memory_mb=512))
    assert r.status == "killed" and not r.passed
    assert time.monotonic() - t0 < 10


def test_memory_bomb_loop_is_stopped():
    code = "x = []\nwhile True:\n    x.append(bytearray(64 * 1024 ** 2))"
    r = run_in_sandbox(code, STDIN_SPEC, SandboxLimits(per_test_s=20, per_problem_s=30, memory_mb=512))
    assert r.status == "memory", r


def test_network_is_cut_off():
    """Even with the Python guard undone (importlib.reload), connecting fails where the kernel gives
    the sandbox its own network namespace; where it does not, the result says guard-only."""
    code = ("import importlib, socket\nimportlib.reload(socket)\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.settimeout(2)\n"
            "s.connect(('127.0.0.1', 9))\nprint(6)")
    r = run_in_sandbox(code, STDIN_SPEC, FAST)
    assert r.network in ("namespace", "user-namespace", "guard-only")
    if r.network != "guard-only":  # an empty namespace has no route even to 127.0.0.1 (loopback is down)
        assert r.status == "runtime_error" and "Network is unreachable" in r.detail, r
    # without the namespace the same program reaches the host's loopback (refused: nothing listens on 9)
    r = run_in_sandbox(code, STDIN_SPEC, SandboxLimits(per_test_s=2, per_problem_s=8, memory_mb=512,
                                                       isolate_network=False))
    assert r.network == "not-isolated" and "Network is unreachable" not in r.detail, r


def test_fresh_working_folder_removed_after():
    code = ("import os\nopen('left.txt', 'w').write('x')\nprint(len(os.listdir('.')) + 5)")
    r1 = run_in_sandbox(code, STDIN_SPEC, FAST)  # prints 6 only if the folder held nothing before
    r2 = run_in_sandbox(code, STDIN_SPEC, FAST)
    assert r1.passed and r2.passed


def test_sandbox_sees_no_pythonpath_or_parent_env(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "abc")
    code = "import os, sys\nprint(6 if 'SECRET_TOKEN' not in os.environ and os.getcwd() not in sys.path else 0)"
    assert run_in_sandbox(code, STDIN_SPEC, FAST).passed


def test_grading_never_raises_on_model_output():
    grader = CodeGrader(FAST, workers=2)
    gold = lcb_golds()["lcbt_sum"]
    weird = [None, "", "no code", "```python\n\x00\n```", fenced("\udcff"), fenced("print(" * 1000),
             fenced("import sys\nsys.setrecursionlimit(10**6)\ndef f(n): return f(n+1)\nf(0)"),
             fenced("exit(3)"), fenced("import os\nos._exit(0)")]
    grades = grader.grade_many([w if w is not None else "" for w in weird], [gold] * len(weird))
    assert [g.correct for g in grades] == [False] * len(weird)


def test_identical_programs_run_once():
    grader = CodeGrader(FAST, workers=2)
    gold = lcb_golds()["lcbt_sum"]
    code = fenced(SOLUTIONS["lcbt_sum"]["correct"][0])
    grades = grader.grade_many([code] * 6, [gold] * 6)
    assert all(g.correct for g in grades)
    assert len(grader._cache) == 1


def test_parallel_workers_agree_with_serial():
    golds = lcb_golds()
    pairs = [(fenced(c), golds[q]) for q, s in SOLUTIONS.items() for c in s["correct"] + s["wrong"]]
    a = CodeGrader(FAST, workers=1).grade_many(*zip(*pairs))
    b = CodeGrader(FAST, workers=min(4, os.cpu_count() or 1)).grade_many(*zip(*pairs), workers=3)
    assert [g.correct for g in a] == [g.correct for g in b]


# --------------------------------------------------------------------------------------------------
# a SandboxFusion service instead of the local sandbox (verl's client; the service is stubbed here)
# --------------------------------------------------------------------------------------------------

def test_sandbox_fusion_mapping(monkeypatch):
    from verl.utils.reward_score.sandbox_fusion import utils as sf

    calls = []

    def fake_check(url, in_outs, generation, timeout, memory_limit_mb):
        calls.append((url, in_outs, generation, timeout, memory_limit_mb))
        return ([True] * len(in_outs["inputs"]) if "good" in generation else [True, -3, False][:len(in_outs["inputs"])],
                [])

    monkeypatch.setattr(sf, "check_correctness", fake_check)
    monkeypatch.setenv("SENT_SANDBOX_FUSION_URL", "http://sandbox:8080/run_code")
    grader = CodeGrader(FAST, workers=1)
    gold = lcb_golds()["lcbt_two_sum"]
    good, bad = grader.grade_many([fenced("# good\nx = 1"), fenced("# bad\nx = 1")], [gold, gold])
    assert good.correct and not bad.correct
    assert grader.last_results[1].status == "timeout" and grader.last_results[1].n_passed == 1
    url, in_outs, code, timeout, mem = calls[0]
    spec = decode_tests(gold)
    assert url == "http://sandbox:8080/run_code" and in_outs["fn_name"] == "twoSum"
    assert in_outs["inputs"] == [t["input"] for t in spec["tests"]] and timeout == 2 and mem == 512
    he_gold = encode_tests([{"input": "def check(c): pass", "output": "", "testtype": "check"}], "f")
    assert not grader.grade(fenced("# good"), he_gold).correct  # HumanEval's check tests: local sandbox only
    assert grader.last_results[0].status == "bad_test"

    def broken(*a, **k):
        raise ConnectionError("no route")

    monkeypatch.setattr(sf, "check_correctness", broken)
    grader.cache_clear()
    assert not grader.grade(fenced("# good\ny = 2"), gold).correct
    assert grader.last_results[0].status == "crashed" and "no route" in grader.last_results[0].detail


# --------------------------------------------------------------------------------------------------
# independent check: verl 0.9.1's APPS/LiveCodeBench-style checker on the same programs and tests
# --------------------------------------------------------------------------------------------------

# programs that read the process's real stdin (fd 0): verl's checker only replaces sys.stdin, so it
# fails them; our sandbox gives them the real fd 0, as a judge would
REAL_STDIO = {SOLUTIONS["lcbt_sum"]["correct"][3], SOLUTIONS["lcbt_sum"]["correct"][4]}


def test_verdicts_agree_with_verl_prime_code():
    from verl.utils.reward_score.prime_code.utils import check_correctness

    golds = lcb_golds()
    grader = CodeGrader(FAST, workers=2)
    checked = 0
    for qid, sols in SOLUTIONS.items():
        spec = decode_tests(golds[qid])
        in_outs = {"inputs": [t["input"] for t in spec["tests"]], "outputs": [t["output"] for t in spec["tests"]],
                   "fn_name": spec["fn_name"]}
        for code in sols["correct"] + sols["wrong"]:
            res, _ = check_correctness(in_outs=json.loads(json.dumps(in_outs)), generation=code, timeout=6,
                                       debug=False)
            theirs = len(res) == len(spec["tests"]) and all(r is True for r in res)
            ours = grader.grade(fenced(code), golds[qid]).correct
            if code in REAL_STDIO:
                assert ours and not theirs, code
            else:
                assert ours == theirs, (qid, code, res)
                checked += 1
    assert checked == 17


# --------------------------------------------------------------------------------------------------
# as an unprivileged user (the usual case on a cluster): process limit and user + network namespace
# --------------------------------------------------------------------------------------------------

def _as_nobody(code: str, margin: int) -> dict:
    import shutil
    import subprocess
    import tempfile

    from core.eval.code_grading import SANDBOX_SCRIPT

    py = shutil.which("python3", path="/usr/bin:/bin")  # the sandbox needs the standard library only
    if os.geteuid() != 0 or py is None:
        pytest.skip("needs root (to run the sandbox as the user nobody) and a system python3")
    try:
        import pwd

        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    job = {"code": code, "tests": STDIN_SPEC["tests"], "fn_name": None, "per_test_s": 5, "memory_mb": 1024,
           "file_mb": 8, "cpu_s": 20, "nonce": "@@t@@", "isolate_network": True, "nproc_margin": margin}
    work = tempfile.mkdtemp()
    os.chmod(work, 0o777)
    # a copy nobody can read: the checkout may sit in a folder only its owner can enter (e.g. mktemp -d)
    script = shutil.copy(SANDBOX_SCRIPT, os.path.join(work, "sandbox.py"))
    os.chmod(script, 0o644)
    r = subprocess.run([py, "-I", script], input=json.dumps(job).encode(), capture_output=True, cwd=work,
                       user="nobody", timeout=60)
    out = r.stdout.decode()
    assert "@@t@@" in out, (r.returncode, out, r.stderr.decode()[-2000:])
    return json.loads(out.split("@@t@@")[-1])


def test_unprivileged_thread_bomb_stops_at_the_process_limit():
    few = ("import threading\nts = [threading.Thread(target=lambda: None) for _ in range(8)]\n"
           "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(6)")
    bomb = ("import threading\nev = threading.Event()\nfor _ in range(300):\n"
            "    threading.Thread(target=ev.wait, daemon=True).start()\nprint(6)")
    assert _as_nobody(few, 64)["passed"]
    r = _as_nobody(bomb, 64)
    assert not r["passed"] and "can't start new thread" in r["detail"], r


def test_unprivileged_network_namespace():
    code = ("import importlib, socket\nimportlib.reload(socket)\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.settimeout(2)\n"
            "s.connect(('127.0.0.1', 9))\nprint(6)")
    r = _as_nobody(code, 64)
    assert r["network"] in ("user-namespace", "guard-only")
    if r["network"] == "user-namespace":
        assert "Network is unreachable" in r["detail"], r
