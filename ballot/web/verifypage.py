"""The public /verify page: upload an archive zip, get the same verdict as `ballot verify`."""

from __future__ import annotations

import zipfile
from io import BytesIO

from flask import Blueprint, render_template, request

from .. import archive, signing

bp = Blueprint("verify", __name__)
MAX_UPLOAD = 50 * 1024 * 1024


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    checks, error = None, None
    if request.method == "POST":
        upload = request.files.get("archive")
        key_upload = request.files.get("public_key")
        try:
            if not upload or not upload.filename:
                raise ValueError("请选择归档 zip 文件")
            data = upload.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise ValueError("文件过大")
            with zipfile.ZipFile(BytesIO(data)) as z:
                files = {name: z.read(name) for name in archive.FILES if name in z.namelist()}
            key = None
            if key_upload and key_upload.filename:
                key = signing.PublicKey.parse(key_upload.read(4096).decode())
            checks = archive.verify(files, key)
        except (ValueError, zipfile.BadZipFile, UnicodeDecodeError, signing.SigningError) as exc:
            error = str(exc) if not isinstance(exc, zipfile.BadZipFile) else "不是有效的 zip 文件"
    return render_template("verify.html", checks=checks, error=error)
