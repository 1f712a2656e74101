"""Answer extraction and normalisation: what the math grader compares, and why.

:func:`extract_answer` takes the final answer out of a response (the last ``\\boxed{}``, then
answer phrases); :func:`normalize_answer` rewrites forms math-verify misreads, on gold and prediction
alike. Both are pure string functions (``re`` only) that never raise on model output; the rules and
their reasons are in ``docs/evaluation.md``. :mod:`core.eval.grading` uses them and exports them.

May import: the standard library only.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ANSWER_CHARS", "extract_answer", "normalize_answer"]

MAX_ANSWER_CHARS = 1000
"""An extracted answer longer than this is graded incorrect without parsing (and stored cut to
this length). The longest gold of the six benchmarks has 210 characters (a Minerva formula)."""


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# "The final answer is $70$.", "Answer: 70", "the answer is \(70\)": the last such phrase wins.
_PHRASE_RE = re.compile(r"(?:final\s+answer|answer)\s*(?:is|:|=)\s*:?\s*([^\n]+)", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)")
_WRAPPERS = (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$"), ("**", "**"))


def _braced(text: str, start: int) -> str | None:
    """Content of the brace group opening at ``text[start] == '{'``; None if it never closes.

    Escaped braces (``\\{``, ``\\}``) are literal characters and do not count.
    """
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def _last_box(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (or ``\\boxed 5``); None if absent
    or if the last box is unbalanced (a response cut off inside its final box)."""
    matches = list(_BOX_RE.finditer(text))
    if not matches:
        return None
    end = matches[-1].end()
    rest = text[end:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        return _braced(text, end + len(rest) - len(stripped))
    if rest[:1].isspace():  # "\boxed 5$": one token up to whitespace or "$"
        token = re.match(r"[^\s$]+", stripped)
        return token.group(0) if token else None
    return None


def _clean_phrase(answer: str) -> str:
    """Trim what follows an answer phrase: the first sentence, without wrappers."""
    answer = answer.strip()
    end = _SENTENCE_END_RE.search(answer)
    if end:
        answer = answer[: end.start()]
    answer = answer.strip().rstrip(".,;").strip().strip("*").strip()
    changed = True
    while changed:
        changed = False
        for left, right in _WRAPPERS:
            if len(answer) >= len(left) + len(right) and answer.startswith(left) and answer.endswith(right):
                answer = answer[len(left) : len(answer) - len(right)].strip()
                changed = True
    return answer


def extract_answer(text: str | None) -> str | None:
    """The final answer of a response, or None.

    1. The content of the last ``\\boxed{}`` (or ``\\fbox{}``), braces balanced.
    2. Otherwise the rest of the sentence after the last "final answer is", "answer is" or
       "Answer:", stripped of ``$``, ``\\(\\)``, ``\\[\\]`` and ``**`` wrappers.
    3. Otherwise None (the response is graded incorrect). There is deliberately no
       "last number in the text" fallback: a rambling or truncated response is not an answer.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    boxed = _last_box(text)
    if boxed is not None:
        boxed = boxed.strip()
        return boxed or None
    phrases = list(_PHRASE_RE.finditer(text))
    if phrases:
        answer = _clean_phrase(phrases[-1].group(1))
        return answer or None
    return None


# ---------------------------------------------------------------------------------------------
# Normalisation (applied to gold and prediction alike)
# ---------------------------------------------------------------------------------------------

# Python e-notation, "3.83e35" / "1e-5" / "2.7778E-6", not part of a word or a longer number.
_E_NOTATION_RE = re.compile(r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)[eE]([+-]?)(\d+)(?![\w.])")
_NUMPY_RE = re.compile(r"\bnp\.([A-Za-z]+)")  # np.arcsin(10/13) -> \arcsin(10/13)
_DOT_SLASH_RE = re.compile(r"(\d)\.(?=\s*/)")  # -1./3 -> -1/3
_PERCENT_RE = re.compile(r"\\?%")
_DOLLAR_RE = re.compile(r"(?<!\\)\$")  # math-mode $, not the currency sign \$


def _e_notation(match: re.Match) -> str:
    mantissa, sign, exponent = match.groups()
    exponent = exponent.lstrip("0") or "0"
    return f"{mantissa}\\times 10^{{{'-' if sign == '-' else ''}{exponent}}}"


def normalize_answer(answer: str) -> str:
    """Rewrite forms math-verify misreads, on gold and prediction alike.

    - Python e-notation (58 Minerva golds): math-verify reads ``3.83e35`` as 3.83*E*35 (Euler's
      number), so ``XeY`` becomes ``X\\times 10^{Y}``.
    - numpy names and ``1./3`` (3 Minerva golds): ``np.arcsin`` -> ``\\arcsin``, ``-1./3`` -> ``-1/3``.
    - math-mode ``$`` signs are dropped (OlympiadBench golds are ``$...$``-wrapped); the
      currency sign ``\$`` stays (math-verify reads ``\$18.90`` as 18.90).
    - percent signs are dropped, as OpenCompass and the Qwen2.5-Math harness do: math-verify
      cannot parse ``\boxed{10\%}`` at all, and MATH500 answers "By what percent ...?" with
      ``10``. So ``10\%`` equals ``10`` (and not ``0.1``).
    """
    answer = _PERCENT_RE.sub("", _DOLLAR_RE.sub("", answer)).strip()
    answer = _NUMPY_RE.sub(r"\\\1", answer)
    answer = _DOT_SLASH_RE.sub(r"\1", answer)
    return _E_NOTATION_RE.sub(_e_notation, answer)
