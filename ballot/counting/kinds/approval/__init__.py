"""逐人表态 (docs/rules.md#approval): the kind and its parts (configuration, tally, paper, tables, form)."""

from __future__ import annotations

from .kind import ApprovalKind

__all__ = ["ApprovalKind"]
