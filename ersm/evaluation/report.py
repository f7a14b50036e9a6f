"""Markdown reports: one run (:func:`run_report`) and several side by side (:func:`compare_report`).

Numbers are read back from the ``metrics.json`` content only, so a report can be rebuilt
from a cached evaluation. Missing (undefined) values print as ``—``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .metrics import headline_keys, sections
from .metrics.faithfulness import NOTES, auc_table
from .tables import auc_cell, fmt, md_table


def _section(title: str, body: str) -> str:
    return f"## {title}\n\n{body}\n"


def _landscape_rows(landscape: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for i, item in enumerate(landscape):
        flips = [min(v) for v in item["flips"].values()]
        path = item.get("path")
        rows.append([i, item["optimum"], item["size"], min(item["random"]),
                     min(flips) if flips else None,
                     min([min(item["random"])] + flips) >= item["optimum"] - 1e-9,
                     None if path is None else len(path["breakpoints"])])
    return rows


def run_report(result: Mapping[str, Any], files: Mapping[str, str]) -> str:
    """The ``report.md`` of one evaluation (``files``: figure kind → file name)."""
    meta, m = result["meta"], result["metrics"]
    s = meta["settings"]
    head = (f"# Evaluation: {meta['name']}\n\n"
            f"model `{meta['model']}` (backbone `{meta['backbone']}`, trained with backend "
            f"`{meta['train_backend'] or '—'}`), split `{s['split']}`, {meta['images']} images, token "
            f"grid {meta['token_grid'][0]}×{meta['token_grid'][1]}; solved masks: "
            f"`{s['backend']}`; {s['seeds']} random seeds, {s['steps']} steps, fills "
            f"feature=`{s['feature_fill']}`, pixel=`{s['pixel_fill']}`.\n")
    parts = [head] + [_section(title, body) for title, body in sections(m, s)]
    if result.get("landscape"):
        parts.append(_section("Energy landscape", md_table(
            ["image", "solved energy", "kept tokens", "min random", "min flipped",
             "solved is lowest", "path breakpoints"], _landscape_rows(result["landscape"]))
            + "\nThe keep-cost path (`ersm.solve_path`) holds every exact mask of "
              "`E + λ·Σ m`: its breakpoints are the λ where the mask changes; see "
              "`landscape.png`.\n"))
    parts.append(_section("Figures", "".join(f"![{k}]({v})\n\n" for k, v in files.items())))
    return "\n".join(parts)


HEADLINE: tuple[str, ...] = headline_keys()
"""Metrics of the short comparison table (present ones only): every registered metric's
``headline`` keys, at import (:func:`ersm.evaluation.metrics.headline_keys` is current)."""


def compare_table(results: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> str:
    """Rows = metric keys, columns = runs (random AUCs with ± std)."""
    rows = [[key] + [auc_cell(r["metrics"], key) if "_auc." in key else r["metrics"].get(key)
                     for r in results.values()] for key in keys]
    return md_table(["metric"] + list(results), rows)


def compare_report(results: Mapping[str, Mapping[str, Any]], files: Mapping[str, str],
                   title: str = "Comparison") -> str:
    """``report.md`` of ``ersm compare``: runs, headline table, all metrics, figures."""
    runs = md_table(["run", "model", "train backend", "images", "report"],
                    [[name, r["meta"]["model"], r["meta"]["train_backend"], r["meta"]["images"],
                      f"[runs/{name}/report.md](runs/{name}/report.md)"]
                     for name, r in results.items()])
    keys: list[str] = []
    for r in results.values():
        keys += [k for k in r["metrics"] if k not in keys and not k.endswith("_std")]
    headline = [k for k in headline_keys() if k in keys]
    return "\n".join([f"# {title}\n", runs, _section("Headline", compare_table(results, headline)),
                      _section("All metrics", compare_table(results, sorted(keys))),
                      NOTES, _section("Figures", "".join(f"![{k}]({v})\n\n"
                                                         for k, v in files.items()))])


__all__ = ["HEADLINE", "NOTES", "auc_cell", "auc_table", "compare_report", "compare_table", "fmt",
           "md_table", "run_report"]
