"""Registry of ballot kinds."""

from __future__ import annotations

from .approval import ApprovalKind
from .base import BallotData, CastError, Counts, Kind, KindConfigError

KINDS: dict[str, Kind] = {k.key: k for k in (ApprovalKind(),)}


def get_kind(key: str) -> Kind:
    try:
        return KINDS[key]
    except KeyError:
        raise KindConfigError(f"未知的表决方式“{key}”，可用：{'、'.join(KINDS)}") from None


__all__ = ["KINDS", "get_kind", "Kind", "Counts", "BallotData", "CastError", "KindConfigError"]
