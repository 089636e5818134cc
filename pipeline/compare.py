"""Rank recipes over seeds: DVC experiments grouped by their params apart from the seed.

    dvc exp run --queue -S train.seed=1          # ... one run per seed and recipe
    dvc queue start -j 2                         # two one-thread runs use 2 cores best
    python -m pipeline.compare                   # mean +- sd of every headline figure, per recipe

One GAN run is one draw: the same params gave 15-19 modes across seeds here. This
reads the runs DVC knows (``dvc exp show --json``: the commit and its experiments;
queued, running and failed ones are left out), groups them by every param but the
seed keys, and prints each recipe's figures of ``metrics/headline.json`` as
mean +- sd with n. A figure whose difference from the baseline recipe (the
commit's params) is beyond the seed noise -- Welch's t-test, p < 0.05 -- is
marked ``*``; with fewer than 2 runs on either side nothing can be said (``?``).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass

import numpy as np

SEED_KEYS = ("train.seed",)
METRICS_FILE = "metrics/headline.json"
ALPHA = 0.05   # significance of a difference from the baseline


@dataclass(frozen=True)
class Run:
    name: str
    rev: str
    params: dict     # flat: dotted keys of params.yaml
    metrics: dict    # flat: numeric figures of the metrics file


def flat(tree, prefix: str = "") -> dict:
    """A nested mapping as dotted keys (list items by index, as `dvc exp run -S` names them)."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else None
    if items is None:
        return {prefix: tree}
    out = {}
    for k, v in items:
        out.update(flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def runs(table: list, metrics_file: str = METRICS_FILE) -> tuple[list[Run], Run | None]:
    """The finished runs of a ``dvc exp show --json`` table with ``metrics_file``, and the commit's own run."""
    found, commit = [], None

    def record(entry: dict) -> Run | None:
        data = entry.get("data") or {}
        metrics = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data")
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data")
        if entry.get("error") or not metrics or params is None:
            return None
        numbers = {k: float(v) for k, v in flat(metrics).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return Run(entry.get("name") or entry["rev"][:7], entry["rev"], flat(params), numbers)

    for baseline in table:
        if baseline.get("rev") == "workspace":   # the last run again, or uncommitted edits
            continue
        commit = commit or record(baseline)
        if commit is not None and commit not in found:
            found.append(commit)
        for exp in baseline.get("experiments") or []:
            state = (exp.get("executor") or {}).get("state")
            if state not in (None, "success"):   # queued, running, failed
                continue
            for rev in exp.get("revs") or []:
                if (run := record(rev)) is not None and run.rev not in {r.rev for r in found}:
                    found.append(run)
    return found, commit


def recipe_of(run: Run, seed_keys=SEED_KEYS) -> tuple:
    return tuple(sorted((k, json.dumps(v)) for k, v in run.params.items() if k not in seed_keys))


def group(found: list[Run], seed_keys=SEED_KEYS) -> dict[tuple, list[Run]]:
    """Runs by recipe (every param but the seed keys), in order of first appearance."""
    out: dict[tuple, list[Run]] = {}
    for run in found:
        out.setdefault(recipe_of(run, seed_keys), []).append(run)
    return out


def label(recipe: tuple, baseline: tuple | None) -> str:
    """What a recipe changes against the baseline, as -S would write it."""
    if recipe == baseline:
        return "baseline"
    base = dict(baseline or ())
    mine = dict(recipe)
    changed = [f"{k}={json.loads(v)}" for k, v in recipe if base.get(k) != v]
    changed += [f"~{k}" for k in base if k not in mine]
    return " ".join(changed) or "baseline"


def beyond_noise(a: list[float], b: list[float]) -> bool | None:
    """Whether the means of ``a`` and ``b`` differ beyond seed noise (Welch's t-test); None with < 2 of either."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2:
        return None
    if np.std(a) == 0 and np.std(b) == 0:
        return a[0] != b[0]
    return bool(ttest_ind(a, b, equal_var=False).pvalue < ALPHA)


def summary(groups: dict[tuple, list[Run]], baseline: tuple | None, names: list[str]) -> list[dict]:
    """Per recipe: its label, n, seeds, and per figure (mean, sd, beyond_noise against the baseline)."""
    rows = []
    base_runs = groups.get(baseline, [])
    for recipe, members in groups.items():
        row = {"recipe": label(recipe, baseline), "n": len(members),
               "runs": [r.name for r in members], "figures": {}}
        for name in names:
            values = [r.metrics[name] for r in members if name in r.metrics and math.isfinite(r.metrics[name])]
            if not values:
                continue
            base = [r.metrics[name] for r in base_runs if name in r.metrics and math.isfinite(r.metrics[name])]
            row["figures"][name] = {
                "mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                "n": len(values), "beyond_noise": None if recipe == baseline else beyond_noise(values, base)}
        rows.append(row)
    return rows


def render(rows: list[dict], names: list[str]) -> str:
    """The rows as a text table: one line per recipe, ``mean +- sd`` per figure, ``*`` beyond seed noise."""
    names = [n for n in names if any(n in r["figures"] for r in rows)]
    width = max([len("recipe")] + [len(r["recipe"]) for r in rows])
    cells = [["recipe".ljust(width), " n"] + names]
    for r in rows:
        line = [r["recipe"].ljust(width), f"{r['n']:2d}"]
        for name in names:
            f = r["figures"].get(name)
            if f is None:
                line.append("-")
                continue
            mark = {True: " *", False: "", None: "" if r["recipe"] == "baseline" else " ?"}[f["beyond_noise"]]
            sd = "" if math.isnan(f["sd"]) else f" ± {f['sd']:.3g}"
            line.append(f"{f['mean']:.3g}{sd}{mark}")
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def exp_show(args: list[str]) -> list:
    """``dvc exp show --json`` of the repository in the working directory."""
    proc = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"compare: dvc exp show failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline.compare", description=__doc__.split("\n")[0])
    ap.add_argument("--seed", action="append", default=None, metavar="KEY",
                    help=f"params that only reseed a run (default: {', '.join(SEED_KEYS)}); repeat for more")
    ap.add_argument("--metrics", default=METRICS_FILE, help="the metrics file compared (default: %(default)s)")
    ap.add_argument("--figures", default=None,
                    help="comma-separated figures to show (default: every number in the metrics file)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("exp_show_args", nargs="*", help="passed to dvc exp show after --, e.g. -- --all-commits")
    args = ap.parse_args(argv)
    seed_keys = tuple(args.seed or SEED_KEYS)

    found, commit = runs(exp_show(args.exp_show_args), args.metrics)
    if not found:
        raise SystemExit(f"compare: no finished run with {args.metrics}: run `dvc repro` or `dvc exp run` first")
    groups = group(found, seed_keys)
    baseline = recipe_of(commit, seed_keys) if commit is not None else next(iter(groups))
    names = (args.figures.split(",") if args.figures
             else list(dict.fromkeys(k for r in found for k in r.metrics)))
    rows = summary(groups, baseline, names)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(render(rows, names))
    print(f"\n{len(found)} runs in {len(groups)} recipes, grouped by every param but {', '.join(seed_keys)}; "
          f"mean ± sd over the runs of each. * beyond seed noise against the baseline (Welch's t-test, "
          f"p < {ALPHA}); ? fewer than 2 runs on a side.")


if __name__ == "__main__":
    main(sys.argv[1:])
