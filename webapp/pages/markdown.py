"""A deliberately small Markdown → HTML renderer for the reports our own tools write
(headings, lists, tables, quotes, images, `code`, **bold**). Everything is escaped first;
images are only kept when ``image_url`` maps their file name to one of our routes."""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`]+)`")
BOLD = re.compile(r"\*\*([^*]+)\*\*")


def _inline(text: str, image_url: Callable[[str], str | None]) -> str:
    out = str(escape(text))

    def image(m: re.Match) -> str:
        url = image_url(m.group(2))
        return f'<img class="chart" alt="{m.group(1)}" src="{escape(url)}">' if url else ""

    out = IMAGE.sub(image, out)
    out = CODE.sub(r"<code>\1</code>", out)
    return BOLD.sub(r"<strong>\1</strong>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def render(text: str, image_url: Callable[[str], str | None]) -> Markup:
    html: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 5)  # page owns <h1>
            html.append(f"<h{level}>{_inline(line.lstrip('#').strip(), image_url)}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                if not re.fullmatch(r"[\s|:\-]+", lines[i]):
                    rows.append(_cells(lines[i]))
                i += 1
            head, *body = rows
            html.append("<table><thead><tr>" + "".join(
                f"<th>{_inline(c, image_url)}</th>" for c in head) + "</tr></thead><tbody>")
            html += ["<tr>" + "".join(f"<td>{_inline(c, image_url)}</td>" for c in r) + "</tr>"
                     for r in body]
            html.append("</tbody></table>")
        elif line.lstrip().startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith(("- ", "* ")):
                items.append(f"<li>{_inline(lines[i].lstrip()[2:], image_url)}</li>")
                i += 1
            html.append("<ul>" + "".join(items) + "</ul>")
        elif line.startswith(">"):
            html.append(f"<blockquote>{_inline(line.lstrip('> '), image_url)}</blockquote>")
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith(
                    ("#", "|", "- ", "* ", ">")):
                para.append(lines[i])
                i += 1
            html.append(f"<p>{_inline(' '.join(para), image_url)}</p>")
    return Markup("\n".join(html))
