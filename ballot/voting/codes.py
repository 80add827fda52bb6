"""One-time codes and receipts: Crockford base32, grouped, typeable, case-insensitive.

A code is 12 symbols = 60 bits of randomness (grouped 4-4-4, e.g. 7K3M-Q9TX-2HBD); a receipt is 8 symbols
(40 bits), random and never derived from the code. Codes are stored only as an HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
RECEIPT_LENGTH = 8
# Crockford decoding: I and L read as 1, O as 0; U is not used. Separators are ignored.
_TRANSLATE = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s\-_.·]+")


def _random_symbols(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def group(symbols: str, size: int = 4) -> str:
    return "-".join(symbols[i : i + size] for i in range(0, len(symbols), size))


def new_code() -> str:
    return group(_random_symbols(CODE_LENGTH))


def new_receipt() -> str:
    return group(_random_symbols(RECEIPT_LENGTH))


def new_id() -> str:
    return secrets.token_hex(16)


def normalize_code(text: str | None) -> str | None:
    """Canonical form of a typed or scanned code, or None if it cannot be one."""
    if not text or len(text) > 64:
        return None
    symbols = _SEPARATORS.sub("", text.strip().upper()).translate(_TRANSLATE)
    if len(symbols) != CODE_LENGTH or any(c not in ALPHABET for c in symbols):
        return None
    return symbols


def code_hash(key: bytes, canonical: str) -> str:
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()
