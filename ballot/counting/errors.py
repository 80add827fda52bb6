"""What every refusal a person can see has in common, in one place.

A refusal is never a fault: bad input or a forbidden step gets a clear Chinese message and changes
nothing. Each domain keeps its own class (callers and tests catch those by name), but all of them
extend `Refused`, so each web blueprint maps them once – a message page for staff and voters, a JSON
error for the API – instead of every view catching its own list of classes.
"""

from __future__ import annotations

import re

MAX_ID = 2**31 - 1  # database ids (and anything typed as one) fit a 32-bit column

# Characters nobody types on purpose (a pasted terminal escape, a NUL): refused in every text field.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Refused(Exception):
    """A refusal whose message (str(exc)) is Chinese and says what to do instead. `status` and
    `code` are what the JSON API answers when nothing more specific catches it first."""

    status: int = 409
    code: str = "refused"


class OperationError(Refused, ValueError):
    """A refused operation; the message is Chinese and says what to do instead."""
