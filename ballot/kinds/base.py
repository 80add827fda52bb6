"""The interface every ballot kind implements: plain data in, plain data out.

A kind validates its configuration, turns a submitted form into choices (the same check runs
on every cast, whatever the page's constraints said), describes choices for the review page,
and tallies a list of ballots into a JSON-able result that pages, screens and reports share.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Mapping, Sequence


class KindConfigError(ValueError):
    """The item's configuration is unusable; the message is Chinese, for the clerk."""


class CastError(ValueError):
    """The submitted ballot is malformed; the message is Chinese, for the voter."""


@dataclass(frozen=True)
class Counts:
    """The numbers of an item that do not come from its ballots."""

    expected: int  # 应到: sum of 应到 of the voting groups
    present: int | None  # 实到: None until the chair has entered it for every voting group
    issued: int  # 发出: codes issued (and not voided) to the voting groups


@dataclass(frozen=True)
class BallotData:
    group_id: int
    valid: bool
    choices: dict


class Kind(ABC):
    key: str
    label: str

    @abstractmethod
    def parse_config(self, raw: Mapping) -> dict:
        """Validate and normalise a configuration; raise KindConfigError."""

    @abstractmethod
    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        """Turn submitted form fields into choices; raise CastError."""

    @abstractmethod
    def check_choices(self, config: dict, choices) -> dict:
        """Validate choices already in stored form (e.g. carried in a session); raise CastError."""

    @abstractmethod
    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        """(what, chosen) lines for the voter's review page."""

    @abstractmethod
    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        """Exact result description (JSON-able; Fractions as strings)."""

    def open_problems(self, config: dict, counts: Counts) -> list[str]:
        """Reasons the item may not open now (e.g. no quorum); empty when it may."""
        return []

    def form_field_names(self, config: dict) -> list[str]:
        """Names of the form fields a cast carries (used to carry them through review)."""
        return []
