"""Point each exercise page's Colab and download buttons at the student copy.

Jupyter Book links a page's launch buttons to the page's own notebook.  The
exercise pages are built from the solution notebooks (solutions sit behind
toggles on the site), but a reader who opens one in Colab or downloads it
should get the student version, with blank answers.

usage: python tools/postbuild.py _build/html
"""
from __future__ import annotations

import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def retarget(html_dir: pathlib.Path) -> list[str]:
    """Rewrite links on exercise pages; return the pages changed."""
    changed = []
    for solution in sorted((ROOT / "exercises").glob("[0-9]*.ipynb")):
        stem = solution.stem
        page = html_dir / "exercises" / f"{stem}.html"
        student = ROOT / "exercises" / "student" / solution.name
        if not page.exists() or not student.exists():
            continue
        text = page.read_text(encoding="utf-8")
        new = text.replace(f"/exercises/{stem}.ipynb",
                           f"/exercises/student/{stem}.ipynb")
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(str(page))
        source_copy = html_dir / "_sources" / "exercises" / solution.name
        if source_copy.exists():
            shutil.copyfile(student, source_copy)
    return changed


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    for p in retarget(out):
        print(f"exercise page links the student notebook: {p}")
