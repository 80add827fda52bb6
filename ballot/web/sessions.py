"""Session cookies that are encrypted, not only signed.

A voter's cookie carries the credential id, the choices waiting for confirmation and the
receipt drawn for them. Signed-only cookies are readable by anyone who gets hold of one (a
sniffer on a plain-HTTP hall network, a copied phone), and a pre-cast cookie would let a voter
prove to a buyer which receipt goes with which choices. Fernet (AES-CBC + HMAC, from
`cryptography`) encrypts and authenticates, and carries the timestamp that expires sessions.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from flask import has_request_context, request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature


class _FernetSerializer:
    def __init__(self, key: bytes):
        self.fernet = Fernet(base64.urlsafe_b64encode(key[:32]))
        self.json = TaggedJSONSerializer()

    def dumps(self, value) -> str:
        return self.fernet.encrypt(self.json.dumps(value).encode()).decode()

    def loads(self, token: str, max_age: int | None = None):
        try:
            return self.json.loads(self.fernet.decrypt(token.encode(), ttl=max_age).decode())
        except (InvalidToken, ValueError) as exc:
            raise BadSignature("session cookie invalid or expired") from exc


class EncryptedCookieSessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app) -> bool:
        # Secure whenever the request came over HTTPS (directly, or through a trusted proxy that
        # said so: ProxyFix sets the scheme), so a later plain-HTTP request never carries it;
        # BALLOT_SECURE_COOKIES=1 forces it regardless.
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)

    def get_signing_serializer(self, app):
        serializer = app.extensions.get("ballot.session_serializer")
        if serializer is None:  # one per app: building it on every request costs more than using it
            settings = app.extensions["ballot.settings"]
            serializer = _FernetSerializer(settings.derived_key("session-encryption"))
            app.extensions["ballot.session_serializer"] = serializer
        return serializer
