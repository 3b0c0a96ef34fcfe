"""Point each exercise page's Colab and download buttons at the student copy.

Jupyter Book links a page's launch buttons to the page's own notebook.  The
exercise pages are built from the solution notebooks (solutions sit behind
toggles on the site), but a reader who opens one in Colab or downloads it
should get the student version, with blank answers:

- the Colab link opens exercises/student/NN.ipynb in the repository;
- the download link serves _sources/exercises/student/NN.ipynb, a copy of the
  student notebook written into the site here;
- the solution notebook's own copy under _sources is removed, so the site
  never serves a notebook with the answers filled in.

It also drops the Font Awesome 4 stylesheet that matplotlib's `to_jshtml()`
animations request from a CDN (which fails offline): the theme already ships
Font Awesome, whose script draws the same `fa fa-play`-style icons.

usage: python tools/postbuild.py _build/html
"""
from __future__ import annotations

import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def retarget(html_dir: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    """Rewrite links on exercise pages, copy the student notebooks into the
    site where the links point; return the pages changed."""
    changed = []
    for solution in sorted((root / "exercises").glob("[0-9]*.ipynb")):
        stem = solution.stem
        page = html_dir / "exercises" / f"{stem}.html"
        if not page.exists():
            continue
        student = root / "exercises" / "student" / solution.name
        if not student.exists():
            raise SystemExit(f"{student} is missing: run `make student`")
        text = page.read_text(encoding="utf-8")
        new = text.replace(f"/exercises/{stem}.ipynb",
                           f"/exercises/student/{stem}.ipynb")
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(str(page))
        sources = html_dir / "_sources" / "exercises"
        (sources / "student").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(student, sources / "student" / solution.name)
        (sources / solution.name).unlink(missing_ok=True)
    return changed


CDN_FONT_AWESOME = re.compile(
    r'<link rel="stylesheet"\s+href="https://maxcdn\.bootstrapcdn\.com/'
    r'font-awesome/[^"]*">\n?')


def drop_cdn_font_awesome(html_dir: pathlib.Path) -> list[str]:
    """Remove matplotlib's CDN Font Awesome link from every page; return
    the pages changed."""
    changed = []
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = CDN_FONT_AWESOME.sub("", text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(str(page))
    return changed


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    for p in retarget(out):
        print(f"exercise page links the student notebook: {p}")
    for p in drop_cdn_font_awesome(out):
        print(f"animation icons from the theme's Font Awesome, not a CDN: {p}")
