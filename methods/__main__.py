"""``python -m methods``: every registered method with its hyperparameters, defaults and sources."""

from __future__ import annotations

import argparse
import json
import sys

from methods import describe, get_method_cls, method_names
from methods.catalog import default_label


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m methods", description=__doc__)
    ap.add_argument("names", nargs="*", help="methods to show (default: all)")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args(argv)
    names = args.names or method_names()
    out = []
    for name in names:
        cls = get_method_cls(name)
        out.append({"name": name, "version": cls.version, "paper": cls.paper, "label": cls.label or default_label(name),
                    "needs_entropy": cls.needs_entropy, "default_curriculum": cls.default_curriculum,
                    "state": cls().init_state(), "params": describe(name)})
    if args.json:
        json.dump(out, sys.stdout, indent=2, default=str)
        print()
        return 0
    for m in out:
        print(f"{m['name']}  (v{m['version']}, curriculum={m['default_curriculum']})  {m['paper']}")
        if m["state"]:
            print(f"  state (saved in checkpoints): {', '.join(f'{k}={v!r}' for k, v in m['state'].items())}")
        width = max(len(r["field"]) for r in m["params"])
        for r in m["params"]:
            print(f"  {r['field']:<{width}} = {r['default']!r:<12} {r['doc']}")
            print(f"  {'':<{width}}   source: {r['source']}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
