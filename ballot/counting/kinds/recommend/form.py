"""民主推荐 on the clerk's item form: places, candidates one a line, write-ins, threshold and ratio."""

from __future__ import annotations

from typing import Mapping

from .. import formfields


def form_config(form: Mapping, groups) -> dict:
    raw = {
        "seats": form.get("rec_seats", ""),
        "candidates": formfields.names(form.get("rec_candidates", "")),
        "write_ins": form.get("rec_write_ins") == "1",
        "denominator": form.get("rec_denominator", "cast"),
        "order": form.get("order", "strokes"),
    }
    if form.get("rec_threshold", "").strip():
        raw["threshold"] = {"op": form.get("rec_threshold_op", ">="), "fraction": form["rec_threshold"].strip()}
    if form.get("rec_ratio", "").strip():
        raw["ratio"] = form["rec_ratio"].strip()
    return raw


def form_values(config: dict, groups) -> dict:
    values = {
        "rec_seats": config["seats"],
        "rec_candidates": "\n".join(config["candidates"]),
        "rec_write_ins": "1" if config["write_ins"] else "",
        "rec_denominator": config["denominator"],
        "rec_ratio": config["ratio"] or "",
    }
    if config["threshold"]:
        values.update(rec_threshold_op=config["threshold"]["op"], rec_threshold=config["threshold"]["fraction"])
    return values
