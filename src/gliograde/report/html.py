"""Shared HTML helpers of the self-contained pages (CV and validation): inline CSS, tables, figures as
base64 PNGs, one page wrapper. No links, no scripts: a page opens offline and can be mailed as one file.

>>> html_table([["set", "AUC"], ["all", "0.91"]])
'<table><tr><th>set</th><th>AUC</th></tr><tr><td>all</td><td>0.91</td></tr></table>'
>>> esc("<b>")
'&lt;b&gt;'
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

CSS = """body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eef1f5}
td:first-child,th:first-child{text-align:left}.ref{background:#fff5dc;color:#6b4a00}
img{max-width:49%;margin:2px;border:1px solid #eee}.note{color:#555;font-size:.9em}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:.82em}h2{border-bottom:1px solid #ddd}"""



def esc(x: Any) -> str:
    """``str(x)`` escaped for HTML text and attribute values."""
    return html.escape(str(x))


def html_table(rows: list[list[str]], ref_col: int | None = None) -> str:
    """A table from rows of cells, the first row the header; column ``ref_col`` gets the ``ref`` class."""
    head = "".join(f"<th{' class=ref' if i == ref_col else ''}>{esc(c)}</th>" for i, c in enumerate(rows[0]))
    body = "".join("<tr>" + "".join(f"<td{' class=ref' if i == ref_col else ''}>{esc(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def img_tag(path: Path) -> str:
    """The PNG at ``path`` as an ``<img>`` with a base64 data URI (alt text: the file's stem)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{esc(path.stem)}" src="data:image/png;base64,{data}">'


def figure_section(title: str, paths: list[Path], prefix: str, note: str = "") -> str:
    """An ``<h2>`` section with the figures whose file name starts with ``prefix`` ("" when there are none)."""
    chosen = [p for p in paths if p.name.startswith(prefix)]
    if not chosen:
        return ""
    return f"<h2>{esc(title)}</h2>" + (f"<p class=note>{esc(note)}</p>" if note else "") + "".join(map(img_tag, chosen))


def html_page(title: str, body: str) -> str:
    """A whole document: ``title`` (escaped) in ``<title>``, the shared :data:`CSS` inline, ``body`` as given."""
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>")
