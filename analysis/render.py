"""The report's blocks ("h1", "p", "answer", "list", "table", "img", "plotly", "details", ...) as Markdown
and as one self-contained HTML page (figures as data URIs, Plotly's script inlined once)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from analysis import interactive as view


def to_markdown(blocks: list[tuple]) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "answer":
            out.append(f"**{block[1]}**")
        elif kind == "details":
            out.append(f"<details><summary>{html.escape(block[1])}</summary>\n\n" + to_markdown(block[2]).strip()
                       + "\n\n</details>")
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "pre":
            out.append("```\n" + block[1] + "\n```")
        elif kind == "table":
            out.append("\n".join(["| " + " | ".join(block[1]) + " |", "|" + "---|" * len(block[1])] +
                                 ["| " + " | ".join(row) + " |" for row in block[2]]))
        elif kind == "img":
            out.append(f"![{block[1]}]({block[2].as_posix()})")
        elif kind == "plotly":
            out.append(f"[interactive figure]({block[2].as_posix()})")
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[tuple], folder: Path) -> str:
    style = ("body{font-family:sans-serif;max-width:70em;margin:1.5em auto;padding:0 1em;line-height:1.4}"
             "h1{font-size:1.5em;margin:.2em 0}.answer{font-size:1.15em;background:#eef4fb;padding:.6em .9em;"
             "border-left:4px solid #3b78c4}table{border-collapse:collapse;font-size:.85em}"
             "td,th{border:1px solid #ccc;padding:.2em .5em}figure{margin:.8em 0}img{max-width:100%}"
             "table{display:block;overflow-x:auto;max-width:100%}.plotly{max-width:100%;overflow-x:auto}"
             "summary{cursor:pointer;color:#3b78c4;margin:.4em 0}"
             "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}")
    script = f"<script>{view.plotly_js()}</script>" if any(b[0] == "plotly" for b in blocks) else ""
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, "
            f"initial-scale=1\"><title>raycnn report</title><style>{style}</style>{script}</head>"
            f"<body>{html_body(blocks, folder)}</body></html>\n")


def html_body(blocks: list[tuple], folder: Path) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "answer":
            body.append(f"<p class=\"answer\">{html.escape(block[1])}</p>")
        elif kind == "details":
            body.append(f"<details><summary>{html.escape(block[1])}</summary>{html_body(block[2], folder)}</details>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "pre":
            body.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
        elif kind == "plotly":
            body.append(f"<div class=\"plotly\">{block[1]}</div>")
        elif kind == "img":
            data = base64.b64encode((folder / block[2]).read_bytes()).decode()
            body.append(f"<figure><img alt=\"{html.escape(block[1])}\" src=\"data:image/png;base64,{data}\">"
                        f"<figcaption>{html.escape(block[1])}</figcaption></figure>")
    return "".join(body)
