"""The public /verify page: upload an archive zip, get the same verdict as `ballot verify`."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, request

from .. import archive, signing

bp = Blueprint("verify", __name__)
MAX_UPLOAD = 50 * 1024 * 1024


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
                keys = signing.public_keys(Path(current_app.instance_path))
            if upload and upload.filename:
                checks = archive.verify(archive.read(_read(upload)), keys, [fingerprint] if fingerprint else [])
            elif tally and tally.filename and signature and signature.filename:
                checks = archive.verify_report(_read(tally), signature.read(4096), keys)
                signature_only = True
            else:
                raise ValueError("请选择归档 zip 文件，或同时选择 tally.json 与 tally.json.minisig")
        except (ValueError, UnicodeDecodeError, signing.SigningError) as exc:
            error = str(exc) if not isinstance(exc, UnicodeDecodeError) else "公钥文件不是 minisign 格式"
    return render_template("verify.html", checks=checks, error=error, signature_only=signature_only)


def _read(upload) -> bytes:
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise ValueError("文件过大")
    return data
