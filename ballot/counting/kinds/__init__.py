"""Registry of ballot kinds."""

from __future__ import annotations

from .approval import ApprovalKind
from .base import CHANNELS, INVALID_REASONS, ORDERS, BallotData, CastError, Counts, Kind, KindConfigError, order_of
from .contest import ContestKind
from .evaluate import EvaluateKind
from .recommend import RecommendKind
from .score import ScoreKind

KINDS: dict[str, Kind] = {
    k.key: k for k in (ApprovalKind(), ContestKind(), RecommendKind(), EvaluateKind(), ScoreKind())
}


def get_kind(key: str) -> Kind:
    try:
        return KINDS[key]
    except KeyError:
        raise KindConfigError(f"未知的表决方式“{key}”，可用：{'、'.join(KINDS)}") from None


__all__ = [
    "KINDS",
    "CHANNELS",
    "INVALID_REASONS",
    "ORDERS",
    "order_of",
    "get_kind",
    "Kind",
    "Counts",
    "BallotData",
    "CastError",
    "KindConfigError",
]
