"""The clerk's item form: form fields to a kind's raw configuration and back.

Every kind's fields sit on one page (fields of the other kinds are ignored); each kind reads and
fills its own (kinds/<kind>/form.py), and its `parse_config` then checks everything, exactly as for
a meeting file or the API. Here: the fields every item has.
"""

from __future__ import annotations

from typing import Mapping

from ballot.counting.kinds import KINDS


def raw_config(form: Mapping, kind: str, groups) -> dict:
    """The raw configuration of `kind` from the submitted form; `groups` are the meeting's groups.
    An unknown kind gives no fields of its own (adding the item then refuses the kind)."""
    impl = KINDS.get(kind)
    return {
        **(impl.form_config(form, groups) if impl else {}),
        "live": form.get("live") == "1",
        "live_batch": form.get("live_batch", ""),
    }


def form_values(kind: str, config: dict, groups) -> dict:
    """The form fields that show a stored configuration for editing."""
    order = (config.get("order") or {}).get("key", "entered")
    values = KINDS[kind].form_values(config, groups)
    live = config.get("live") or {}
    return {**values, "order": order, "live": "1" if live else "", "live_batch": live.get("batch", "")}
