"""评委打分 on the clerk's item form: candidates one a line, range and step, sub-items, trimming, weights."""

from __future__ import annotations

from typing import Mapping

from ... import numbers
from .. import formfields


def form_config(form: Mapping, groups) -> dict:
    sub_items = [
        {"name": name, "max": high}
        for name, high in map(formfields.split, formfields.lines(form.get("sc_sub_items", "")))
    ]
    minimum = form.get("sc_trim_min", "5").strip()
    return {
        "candidates": formfields.names(form.get("sc_candidates", "")),
        "min": form.get("sc_min", "0"),
        "max": form.get("sc_max", "100"),
        "step": form.get("sc_step", "0.5"),
        "sub_items": sub_items,
        "trim": form.get("sc_trim", "totals"),
        "trim_min_judges": numbers.form_integer(minimum),
        "weights": formfields.weights(form, groups, "sc_weight_"),
        "order": form.get("order", "strokes"),
    }


def form_values(config: dict, groups) -> dict:
    values = {
        "sc_candidates": "\n".join(config["candidates"]),
        "sc_min": config["min"],
        "sc_max": config["max"],
        "sc_step": config["step"],
        "sc_sub_items": "\n".join(f"{s['name']}，{s['max']}" for s in config["sub_items"]),
        "sc_trim": config["trim"],
        "sc_trim_min": config["trim_min_judges"],
    }
    for g in groups:
        values[f"sc_weight_{g.id}"] = (config["weights"] or {}).get(g.name, "")
    return values
