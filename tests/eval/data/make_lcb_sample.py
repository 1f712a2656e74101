"""Writes ``lcb_sample.jsonl``: four problems written for the tests in LiveCodeBench's released
format (the fields of ``livecodebench/code_generation_lite``; test cases as JSON strings, private
tests of two problems in the released base64(zlib(pickle(JSON))) encoding). Run from anywhere:
``python tests/eval/data/make_lcb_sample.py``. The problems and tests are our own."""

import base64
import json
import pickle
import zlib
from pathlib import Path


def packed(tests):
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


def t(inp, out, kind):
    return {"input": inp, "output": out, "testtype": kind}


ROWS = [
    dict(question_title="Sum of N integers", platform="atcoder", question_id="lcbt_sum", contest_id="t001",
         contest_date="2024-08-10T00:00:00", starter_code="", difficulty="easy",
         question_content="You are given N and then N integers A_1..A_N on the next line. Print their sum.",
         public_test_cases=json.dumps([t("3\n1 2 3\n", "6\n", "stdin")]),
         private_test_cases=packed([t("1\n-5\n", "-5\n", "stdin"), t("4\n10 20 30 40\n", "100\n", "stdin"),
                                    t("2\n1000000000000 1\n", "1000000000001\n", "stdin")]),
         metadata=json.dumps({})),
    dict(question_title="Mean", platform="codeforces", question_id="lcbt_mean", contest_id="t002",
         contest_date="2024-11-03T00:00:00", starter_code="", difficulty="medium",
         question_content="Given N and N integers, print their mean with exactly two digits after the point.",
         public_test_cases=json.dumps([t("2\n2 3\n", "2.50\n", "stdin")]),
         private_test_cases=json.dumps([t("3\n1 1 2\n", "1.33\n", "stdin"), t("1\n7\n", "7.00\n", "stdin")]),
         metadata=json.dumps({})),
    dict(question_title="Two Sum", platform="leetcode", question_id="lcbt_two_sum", contest_id="t003",
         contest_date="2025-01-15T00:00:00", difficulty="easy",
         starter_code="class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
         question_content="Return the indices i < j of the two numbers of nums that add up to target.",
         public_test_cases=json.dumps([t("[2, 7, 11, 15]\n9", "[0, 1]", "functional")]),
         private_test_cases=packed([t("[3, 2, 4]\n6", "[1, 2]", "functional"), t("[3, 3]\n6", "[0, 1]", "functional")]),
         metadata=json.dumps({"func_name": "twoSum"})),
    dict(question_title="Quotient and remainder", platform="leetcode", question_id="lcbt_divmod", contest_id="t004",
         contest_date="2023-06-01T00:00:00", difficulty="easy",
         starter_code="class Solution:\n    def quotRem(self, a: int, b: int) -> List[int]:\n        ",
         question_content="Return [a // b, a % b].",
         public_test_cases=json.dumps([t("7\n2", "[3, 1]", "functional")]),
         private_test_cases=json.dumps([t("-7\n2", "[-4, 1]", "functional"), t("9\n3", "[3, 0]", "functional")]),
         metadata=json.dumps({"func_name": "quotRem"})),
]

if __name__ == "__main__":
    out = Path(__file__).with_name("lcb_sample.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    print(f"wrote {out} ({len(ROWS)} problems)")
