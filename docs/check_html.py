"""Check a built copy of the docs: the pages open, their links resolve, the API reference and the gallery are complete.

Run after the build (CI does, see ``.ci/run``)::

    python -m sphinx -b html docs docs/_build/html -W --keep-going
    python docs/check_html.py docs/_build/html

It checks that

* every HTML page (not the theme's templates in ``_static/``) parses (Python's ``html.parser``) and has a
  ``<title>``; ``index.html`` names numopt;
* every local ``href``/``src`` of every page (stylesheets, scripts, images, other pages; not ``http(s):``
  links, not anchors) names a file that exists in the build;
* every public function and class of every family listed in ``docs/api/<family>.rst`` has its page;
* every script of ``examples/`` has its gallery page, and every executed one (all but ``NOT_EXECUTED`` of
  ``docs/conf.py``) shows at least one figure: a ``sphx_glr_<example>_*.png`` that is a PNG image with a
  nonzero width and height.

Exit status 0 when all hold; otherwise 1, with one line per problem on stderr.
"""

from __future__ import annotations

import html.parser
import pathlib
import re
import struct
import sys
import urllib.parse

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
FAMILIES = ("linalg", "ot", "constrained", "bilevel", "completion", "unmixing", "atomic")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def documented(page: str) -> set[str]:
    """Names listed in the autosummary tables of docs/api/<page>.rst."""
    text = (DOCS / "api" / f"{page}.rst").read_text(encoding="utf-8")
    names = set()
    for block in re.findall(r"\.\. autosummary::\n(?:   :[^\n]*\n)*\n((?:   \S[^\n]*\n)+)", text):
        names.update(line.strip() for line in block.splitlines())
    return names


def not_executed() -> tuple[str, ...]:
    """``NOT_EXECUTED`` of docs/conf.py, read without running the configuration (no Sphinx import)."""
    text = (DOCS / "conf.py").read_text(encoding="utf-8")
    match = re.search(r"^NOT_EXECUTED\s*=\s*\(([^)]*)\)", text, re.M)
    if match is None:
        raise RuntimeError("docs/conf.py has no NOT_EXECUTED = (...) line")
    return tuple(re.findall(r"[\"']([^\"']+)[\"']", match.group(1)))


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def _parse(path: pathlib.Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _local_target(page: pathlib.Path, link: str) -> pathlib.Path | None:
    """The file a relative link of ``page`` names, or None for external links, anchors and data URLs."""
    parts = urllib.parse.urlsplit(link)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (page.parent / urllib.parse.unquote(parts.path)).resolve()


def png_size(path: pathlib.Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError when the file is not a PNG."""
    head = path.read_bytes()[:24]
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG image")
    return struct.unpack(">II", head[16:24])


def _pages(out: pathlib.Path) -> list[pathlib.Path]:
    """The site's pages: every .html file except the theme's templates copied into _static/."""
    return sorted(p for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts)


def check(out: pathlib.Path) -> list[str]:
    """Every problem found in the HTML build under ``out`` (empty: all checks hold)."""
    out = out.resolve()
    problems = []
    index = out / "index.html"
    if not index.is_file():
        return [f"{index} does not exist"]
    pages = {}
    for path in _pages(out):
        try:
            pages[path] = page = _parse(path)
        except (UnicodeDecodeError, AssertionError, ValueError) as exc:
            problems.append(f"{path.relative_to(out)} does not parse: {exc}")
            continue
        if not page.title.strip():
            problems.append(f"{path.relative_to(out)} has no <title>")
        for link in page.links:
            target = _local_target(path, link)
            if target is not None and not target.exists():
                problems.append(f"{path.relative_to(out)} links to {link}, which is not in the build")
    if index in pages and "numopt" not in pages[index].title:
        problems.append(f"index.html's title {pages[index].title!r} does not name numopt")

    for family in FAMILIES:
        for name in sorted(documented(family)):
            if not (out / "api" / "generated" / f"numopt.{family}.{name}.html").is_file():
                problems.append(f"no API page for numopt.{family}.{name}")

    skipped = set(not_executed())
    for script in sorted((ROOT / "examples").glob("*.py")):
        path = out / "auto_examples" / f"{script.stem}.html"
        if path not in pages:
            problems.append(f"no gallery page for examples/{script.name}")
            continue
        if script.stem in skipped:
            continue
        figures = [src for src in pages[path].images
                   if re.fullmatch(rf"(?:.*/)?sphx_glr_{re.escape(script.stem)}_\d+\.png", src)]
        if not figures:
            problems.append(f"auto_examples/{script.stem}.html shows no figure (does the example draw one?)")
        for src in figures:
            target = _local_target(path, src)
            try:
                width, height = png_size(target)
            except (OSError, ValueError) as exc:
                problems.append(f"auto_examples/{script.stem}.html: figure {src}: {exc}")
                continue
            if width == 0 or height == 0:
                problems.append(f"auto_examples/{script.stem}.html: figure {src} is {width} x {height}")
    return problems


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python docs/check_html.py BUILD_DIR   (e.g. docs/_build/html)", file=sys.stderr)
        return 2
    out = pathlib.Path(argv[0])
    problems = check(out)
    for line in problems:
        print(f"check_html: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_html: {len(_pages(out))} pages parse, their local links resolve, the API reference and the "
          "gallery's figures are complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
