"""After a translated build: its notebooks, and the language switch.

- retarget_notebooks: a translated page's Colab button opens the translated
  notebook of the repository (chapters/zh/NN.ipynb, or the student copy
  exercises/student/zh/NN.ipynb on an exercise page), and its download
  button serves that notebook, copied into the site's _sources/ (the English
  copy is removed, as tools/postbuild.py does for the solution notebooks).
  A page whose language has no translated notebooks keeps the English ones.
- add_switches: every page of the English site (_build/html) and of each
  translated site under it (_build/html/zh/, ...) gets a link, in the page's
  header buttons, to the same page in each other language that is built,
  and a <link rel="alternate" hreflang> for it.  Running it again replaces
  the links (a language built later is added).

usage: python tools/langsite.py _build/html     (only the switches)
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import checklinks  # noqa: E402
import i18n  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENGLISH = ("en", "English")
BUTTONS = '<div class="article-header-buttons">'
SWITCH = re.compile(r"<!-- lang-switch -->.*?<!-- /lang-switch -->\n?", re.S)


def retarget_notebooks(html_dir: pathlib.Path, lang: i18n.Language,
                       root: pathlib.Path = ROOT) -> list[str]:
    """Point each page's Colab and download buttons at its translated
    notebook; returns the pages changed."""
    if not lang.notebooks:
        return []
    import translate_notebooks
    changed = []
    for page, english, translated in translate_notebooks.targets(lang):
        html = html_dir / f"{page}.html"
        if not html.exists():
            continue
        if not translated.exists():
            raise SystemExit(f"{translated.relative_to(root)} is missing: run "
                             "`make i18n-notebooks`")
        old = english.relative_to(root).as_posix()
        new = translated.relative_to(root).as_posix()
        text = html.read_text(encoding="utf-8")
        fixed = text.replace(f"/{old}\"", f"/{new}\"")
        if fixed != text:
            html.write_text(fixed, encoding="utf-8")
            changed.append(str(html))
        sources = html_dir / "_sources"
        (sources / new).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(translated, sources / new)
        (sources / old).unlink(missing_ok=True)
    return changed


def editions(site: pathlib.Path) -> list[tuple[str, str, pathlib.Path]]:
    """(code, label, folder) of the English site and each translated site
    built under it."""
    out = [(ENGLISH[0], ENGLISH[1], site)]
    for lang in i18n.languages().values():
        if (site / lang.site / "index.html").exists():
            out.append((lang.code, lang.label, site / lang.site))
    return out


def _hreflang(code: str) -> str:
    return code.replace("_", "-")


def add_switches(site: pathlib.Path) -> int:
    """Put the language switch on every page of every edition; returns the
    number of pages changed."""
    eds = editions(site)
    n = 0
    for code, _, folder in eds:
        others = [e for e in eds if e[0] != code]
        for page in checklinks.pages(folder):
            rel = page.relative_to(folder)
            links, alts = [], []
            for ocode, olabel, ofolder in others:
                target = ofolder / rel
                if not target.exists():
                    continue
                href = os.path.relpath(target, page.parent).replace(os.sep, "/")
                hl = _hreflang(ocode)
                links.append(f'<a href="{href}" class="btn btn-sm lang-switch" '
                             f'hreflang="{hl}" lang="{hl}" data-lang="{ocode}" '
                             f'title="{olabel}"><span class="btn__text-container">'
                             f'{olabel}</span></a>')
                alts.append(f'<link rel="alternate" hreflang="{hl}" href="{href}">')
            text = page.read_text(encoding="utf-8")
            new = SWITCH.sub("", text)
            if links and BUTTONS in new:
                new = new.replace(BUTTONS, BUTTONS + "<!-- lang-switch -->"
                                  + "".join(links) + "<!-- /lang-switch -->\n", 1)
                new = new.replace("</head>", "<!-- lang-switch -->" + "".join(alts)
                                  + "<!-- /lang-switch -->\n</head>", 1)
            if new != text:
                page.write_text(new, encoding="utf-8")
                n += 1
    return n


if __name__ == "__main__":
    site = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    print(f"language switch on {add_switches(site)} pages")
