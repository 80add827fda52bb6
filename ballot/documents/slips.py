"""Printable slip sheets: A4, 2 × 5 slips a page with cut lines, each slip a QR of the voting
URL, the typeable code, meeting title, group, date, instructions and the Wi-Fi name.

Slips carry no number but their position on the page. The URL is written in upper case so the
QR uses alphanumeric mode (version 3 instead of 4 for a typical URL: larger modules, better
scans); the server accepts /V/ and upper-case codes. Text uses a TrueType CJK font (reportlab
cannot embed CFF fonts such as Noto CJK); every character is checked against it first.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import qrcode
import qrcode.util
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from ballot.counting.errors import Refused

CJK_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
MONO_FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",)
COLUMNS, ROWS = 2, 5
PER_PAGE = COLUMNS * ROWS
INSTRUCTIONS = ("扫码，或在手机浏览器输入网址和票码", "微信若有提示，请点“继续访问”")
FINGERPRINT_LABEL = "计票报告签名密钥指纹 "
PARALLEL_FROM = 200  # below this many slips a process pool costs more than it saves


class SlipError(Refused, ValueError):
    """The sheet cannot be printed as asked; the message is Chinese, for the clerk."""


@dataclass(frozen=True)
class SlipSheet:
    title: str
    group: str
    date: str
    base_url: str  # e.g. http://192.168.1.10:8000
    wifi: str = ""
    # the instance's report-signing key, so scrutineers can note it before voting and match the
    # signed report to it afterwards (the same on every slip: it identifies the server, not a voter)
    key_fingerprint: str = ""

    def url_for(self, code: str) -> str:
        return f"{self.base_url.rstrip('/')}/V/{code}".upper()

    def typed_url(self) -> str:
        return self.base_url.rstrip("/").removeprefix("http://").removeprefix("https://")


_fonts: dict[str, TTFont] = {}


def _register(name: str, candidates) -> TTFont:
    if name in _fonts:
        return _fonts[name]
    for entry in candidates:
        path, index = entry if isinstance(entry, tuple) else (entry, 0)
        if Path(path).exists():
            font = TTFont(name, path, subfontIndex=index) if path.endswith(".ttc") else TTFont(name, path)
            pdfmetrics.registerFont(font)
            _fonts[name] = font
            return font
    raise SlipError("找不到打印票所需的字体（请安装 fonts-wqy-zenhei 与 fonts-dejavu-core）")


def _check_glyphs(font: TTFont, text: str) -> None:
    missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in font.face.charToGlyph})
    if missing:
        raise SlipError(f"字体缺少以下字符，无法打印：{''.join(missing)}。请修改会议名称或表决组名称后重试")


def qr_matrix(data: str) -> list[list[bool]]:
    """ECC level M; the mask is chosen by the standard's penalty rules (the slow part)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    mode = qrcode.util.MODE_ALPHA_NUM if all(c in qrcode.util.ALPHA_NUM.decode() for c in data) else None
    qr.add_data(qrcode.util.QRData(data.encode(), mode=mode) if mode else data)
    qr.make(fit=True)
    return qr.modules


def qr_matrices(urls: Sequence[str]) -> Iterator[list[list[bool]]]:
    """Matrices in order; on several cores a pool of fresh processes computes them while the
    caller draws. (Spawned, not forked: the caller may be a threaded web worker.)"""
    workers = min(os.cpu_count() or 1, 4)
    if len(urls) < PARALLEL_FROM or workers < 2:
        yield from map(qr_matrix, urls)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(qr_matrix, urls, chunksize=50)


def qr_svg(data: str, module_px: int = 6) -> str:
    """An inline SVG of a QR code with its 4-module quiet zone (for pages; no image files)."""
    matrix = qr_matrix(data)
    n = len(matrix) + 8
    cells = "".join(f"M{c + 4},{r + 4}h1v1h-1z" for r, row in enumerate(matrix) for c, dark in enumerate(row) if dark)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{n * module_px}" '
        f'height="{n * module_px}" role="img" aria-label="二维码"><rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path d="{cells}" fill="#000"/></svg>'
    )


def _draw_qr(c: Canvas, matrix, x: float, y: float, size: float) -> None:
    """One path of horizontal runs: fast to draw, small in the file."""
    n = len(matrix)
    cell = size / n
    path = c.beginPath()
    for r, row in enumerate(matrix):
        col = 0
        while col < n:
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                # A hair taller than a module, so rasterisers leave no light seam between rows.
                path.rect(x + start * cell, y + size - (r + 1) * cell, (col - start) * cell, cell)
            else:
                col += 1
    c.drawPath(path, stroke=0, fill=1)


def _fit(text: str, font: str, size: float, width: float, lines: int) -> list[str]:
    out, current = [], ""
    for ch in text:
        if pdfmetrics.stringWidth(current + ch, font, size) > width:
            out.append(current)
            current = ch
            if len(out) == lines:
                break
        else:
            current += ch
    else:
        out.append(current)
    return [line for line in out if line][:lines]


PAGES_PER_PART = 10  # pages rendered per step of the stream: bytes leave as the sheet is made


def check_sheet(sheet: SlipSheet) -> None:
    """Refuse, before any code is shown, a sheet the fonts cannot print."""
    cjk = _register("BallotCJK", CJK_FONT_CANDIDATES)
    _register("BallotMono", MONO_FONT_CANDIDATES)
    _check_glyphs(
        cjk,
        sheet.title
        + sheet.group
        + sheet.date
        + sheet.wifi
        + "".join(INSTRUCTIONS)
        + "网址：无线网络"
        + FINGERPRINT_LABEL,
    )


def stream_slips(
    sheet: SlipSheet, codes: Sequence[str], progress: Callable[[int, int], None] | None = None
) -> Iterator[bytes]:
    """The slip-sheet PDF as a stream of byte chunks, ten pages at a time.

    reportlab writes a document only when it is complete, so each part of ten pages is made as
    its own small document and its objects are renumbered into one file as they come; the page
    tree, catalogue and cross-reference table follow the last page. Codes never leave memory.
    """
    check_sheet(sheet)
    pages = (len(codes) + PER_PAGE - 1) // PER_PAGE
    writer = _StreamingPdf()
    yield writer.header()
    matrices = qr_matrices([sheet.url_for(code) for code in codes])
    per_part = PAGES_PER_PART * PER_PAGE
    for first in range(0, len(codes), per_part):
        part = io.BytesIO()
        _render_part(sheet, codes[first : first + per_part], matrices, part)
        yield writer.add_document(part.getvalue())
        if progress:
            progress(min(pages, (first + per_part) // PER_PAGE), pages)
    yield writer.finish(title=f"{sheet.title} {sheet.group} 票")


def render_slips(
    sheet: SlipSheet,
    codes: Sequence[str],
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the whole PDF to `out`; returns the number of pages."""
    for chunk in stream_slips(sheet, codes, progress):
        out.write(chunk)
    return (len(codes) + PER_PAGE - 1) // PER_PAGE


def _render_part(sheet: SlipSheet, codes: Sequence[str], matrices: Iterator, out: BinaryIO) -> None:
    page_w, page_h = A4
    slip_w, slip_h = page_w / COLUMNS, page_h / ROWS
    qr_size = 32 * mm  # version 3 (29 modules): 1.1 mm a module
    quiet = 6.5 * mm  # ≥ 4 modules (4.4 mm), and clear of a laser printer's unprintable edge
    canvas = Canvas(out, pagesize=A4, pageCompression=1, invariant=1)
    title_lines = _fit(sheet.title, "BallotCJK", 10, slip_w - qr_size - quiet * 2 - 6 * mm, 2)
    for page in range((len(codes) + PER_PAGE - 1) // PER_PAGE):
        _cut_lines(canvas, page_w, page_h, slip_w, slip_h)
        for slot, code in enumerate(codes[page * PER_PAGE : (page + 1) * PER_PAGE]):
            col, row = slot % COLUMNS, slot // COLUMNS
            x0, y0 = col * slip_w, page_h - (row + 1) * slip_h
            _slip(canvas, sheet, code, next(matrices), x0, y0, slip_w, slip_h, qr_size, quiet, title_lines)
        canvas.showPage()
    canvas.save()


_OBJ = re.compile(rb"(\d+) 0 obj\n")
_REF = re.compile(rb"(\d+) 0 R")


class _StreamingPdf:
    """Joins small reportlab documents into one PDF, written front to back."""

    def __init__(self):
        self.offset = 0
        self.offsets: dict[int, int] = {}
        self.next_number = 3  # 1: catalogue, 2: page tree (written last)
        self.pages: list[int] = []

    def _emit(self, data: bytes) -> bytes:
        self.offset += len(data)
        return data

    def header(self) -> bytes:
        return self._emit(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def add_document(self, pdf: bytes) -> bytes:
        objects = {}
        for match in _OBJ.finditer(pdf):
            start = match.end()
            stream_at, end_at = pdf.find(b"\nstream\n", start), pdf.find(b"\nendobj", start)
            if stream_at != -1 and stream_at < end_at:  # the dictionary holds no binary; the stream may
                head = pdf[start:stream_at]
                length = int(re.search(rb"/Length (\d+)", head).group(1))
                body_start = stream_at + len(b"\nstream\n")
                stream = pdf[body_start : body_start + length]
                end_at = pdf.find(b"\nendobj", body_start + length)
            else:
                head, stream = pdf[start:end_at], None
            objects[int(match.group(1))] = (head, stream)
        skip = {n for n, (head, _) in objects.items() if re.search(rb"/Type /(Catalog|Pages)\b", head)}
        info = re.search(rb"/Info (\d+) 0 R", pdf[pdf.rfind(b"trailer") :])
        if info:
            skip.add(int(info.group(1)))
        numbers = {}
        for n in sorted(objects):
            if n not in skip:
                numbers[n] = self.next_number
                self.next_number += 1
        out = []
        for n in sorted(numbers):
            head, stream = objects[n]
            is_page = re.search(rb"/Type /Page\b", head) is not None
            head = _REF.sub(lambda m: b"%d 0 R" % numbers.get(int(m.group(1)), 2), head)
            if is_page:
                head = re.sub(rb"/Parent \d+ 0 R", b"/Parent 2 0 R", head)
                self.pages.append(numbers[n])
            self.offsets[numbers[n]] = self.offset
            body = b"%d 0 obj\n" % numbers[n] + head
            body += (b"\nstream\n" + stream + b"\nendstream\nendobj\n") if stream is not None else b"\nendobj\n"
            out.append(self._emit(body))
        return b"".join(out)

    def finish(self, title: str) -> bytes:
        kids = b" ".join(b"%d 0 R" % n for n in self.pages)
        tail = []
        self.offsets[2] = self.offset
        tail.append(
            self._emit(b"2 0 obj\n<< /Type /Pages /Count %d /Kids [ %s ] >>\nendobj\n" % (len(self.pages), kids))
        )
        self.offsets[1] = self.offset
        tail.append(self._emit(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"))
        info = self.next_number
        self.offsets[info] = self.offset
        title_hex = ("feff" + title.encode("utf-16-be").hex()).encode()
        tail.append(self._emit(b"%d 0 obj\n<< /Title <%s> /Producer (ballot) >>\nendobj\n" % (info, title_hex)))
        xref_at = self.offset
        size = info + 1
        lines = [b"xref\n0 %d\n" % size, b"0000000000 65535 f \n"]
        lines += [b"%010d 00000 n \n" % self.offsets[n] for n in range(1, size)]
        trailer = b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, info, xref_at)
        tail.append(self._emit(b"".join(lines) + trailer))
        return b"".join(tail)


def _cut_lines(c: Canvas, page_w, page_h, slip_w, slip_h) -> None:
    c.saveState()
    c.setDash(3, 3)
    c.setLineWidth(0.4)
    c.setStrokeGray(0.45)
    for i in range(1, COLUMNS):
        c.line(i * slip_w, 0, i * slip_w, page_h)
    for j in range(1, ROWS):
        c.line(0, j * slip_h, page_w, j * slip_h)
    c.restoreState()


def _slip(c: Canvas, sheet: SlipSheet, code: str, matrix, x0, y0, w, h, qr_size, quiet, title_lines) -> None:
    qx, qy = x0 + quiet, y0 + (h - qr_size) / 2
    _draw_qr(c, matrix, qx, qy, qr_size)
    tx = qx + qr_size + quiet
    top = y0 + h - 7 * mm
    c.setFont("BallotCJK", 10)
    for line in title_lines:
        c.drawString(tx, top, line)
        top -= 4.6 * mm
    c.setFont("BallotCJK", 9)
    c.drawString(tx, top, f"{sheet.group}  {sheet.date}".strip())
    top -= 8.5 * mm
    c.setFont("BallotMono", 15)
    c.drawString(tx, top, code)
    top -= 5.5 * mm
    c.setFont("BallotCJK", 7.5)
    c.drawString(tx, top, "网址：" + sheet.typed_url())
    top -= 4 * mm
    for line in INSTRUCTIONS:
        c.drawString(tx, top, line)
        top -= 3.6 * mm
    if sheet.wifi:
        c.drawString(tx, top, "无线网络：" + sheet.wifi)
    if sheet.key_fingerprint:  # under the QR's quiet zone (13.7 mm below it, 4.4 mm needed)
        c.setFont("BallotCJK", 6.5)
        c.drawString(qx, y0 + 4 * mm, FINGERPRINT_LABEL + sheet.key_fingerprint)
