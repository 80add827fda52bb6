"""The public /verify page: upload an archive zip, get the same verdict as `ballot verify`.

Anyone may upload, so the check is bounded: the zip at most MAX_UPLOAD, its files together at most
MAX_UNPACKED unpacked (the archive of 10 items × 3,000 ballots unpacks to ~4 MB; `ballot verify` allows
verifier.MAX_UNPACKED), nothing read beyond tally.json and its signature unless the signing key is
trusted, no file parsed unless it is the one the signed tally.json names, and none whose parse
would take more than PARSE_BUDGET of memory (verifier.parse_cost)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, request

from ballot.archive import keyring, signing
from ballot.archive import verify as verifier

from .common import db

bp = Blueprint("verify", __name__)
MAX_UPLOAD = 32 * 1024 * 1024
MAX_UNPACKED = 32 * 1024 * 1024
PARSE_BUDGET = 128 * 1024 * 1024


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    checks, error, signature_only = None, None, False
    if request.method == "POST":
        upload = request.files.get("archive")
        key_upload = request.files.get("public_key")
        tally, signature = request.files.get("tally"), request.files.get("signature")
        try:
            key = None
            if key_upload and key_upload.filename:
                key = signing.PublicKey.parse(key_upload.read(4096).decode())
            # trusted: the key given, else this server's own keys (rotated ones included), never
            # the archive's own minisign.pub alone (anyone can sign a forgery with their own key)
            fingerprint = request.form.get("fingerprint", "").strip()[:200]
            if key:
                keys = [key]
            elif fingerprint:
                keys = []
            else:
                with db().read() as s:  # the keys every app server knows, rotated ones included
                    keys = keyring.public_keys(s, Path(current_app.instance_path))
            if upload and upload.filename:
                checks = verifier.verify(
                    verifier.read(_read(upload), limit=MAX_UNPACKED),
                    keys,
                    [fingerprint] if fingerprint else [],
                    require_trusted=True,
                    parse_budget=PARSE_BUDGET,
                )
            elif tally and tally.filename and signature and signature.filename:
                tally_bytes = _read(tally, verifier.SMALL_FILES["tally.json"])
                signature_bytes = _read(signature, verifier.SMALL_FILES["tally.json.minisig"])
                checks = verifier.verify_report(tally_bytes, signature_bytes, keys, PARSE_BUDGET)
                signature_only = True
            else:
                raise ValueError("请选择归档 zip 文件，或同时选择 tally.json 与 tally.json.minisig")
        except (ValueError, UnicodeDecodeError, signing.SigningError) as exc:
            error = str(exc) if not isinstance(exc, UnicodeDecodeError) else "公钥文件不是 minisign 格式"
    return render_template("verify.html", checks=checks, error=error, signature_only=signature_only)


def _read(upload, limit: int = MAX_UPLOAD) -> bytes:
    data = upload.read(limit + 1)
    if len(data) > limit:
        size = f"{limit // 1024 // 1024} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
        raise ValueError(f"文件过大（本页上限 {size}）；更大的归档请用 ballot verify 离线核验")
    return data
