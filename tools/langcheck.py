"""A translated edition in headless Chromium, offline (tools/browsercheck.py's
checks, with the buttons of a translated page).

For every page of a translated site (_build/html/zh/ ...) this runs
browsercheck's page check (console errors, typeset math, images and icons,
widgets, no answer visible before its toggle), with the buttons checked for
what a translated page must offer: Colab opens the page's translated notebook
in the repository (chapters/zh/NN.ipynb, exercises/student/zh/NN.ipynb) and
download serves that notebook byte for byte.  It also checks, without a
browser, that every page of both editions carries the language switch to the
same page of the other, and that the page's <html lang> is the edition's.

Chinese text needs a CJK font: cjk_font() finds one (fontconfig) and, when
none is installed and this user can (root with apt-get), installs Debian's
fonts-noto-cjk, the way browsercheck installs Chromium.

usage: python tools/langcheck.py zh_CN [_build/html [shots dir]]
"""
from __future__ import annotations

import contextlib
import html.parser
import os
import pathlib
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import browsercheck  # noqa: E402
import checklinks  # noqa: E402
import i18n  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
CJK_PACKAGE = "fonts-noto-cjk"


def cjk_font(lang: str = "zh") -> str:
    """The file of an installed font covering `lang` (fontconfig); installs
    Debian's fonts-noto-cjk when none is and this user can."""
    def find():
        if not shutil.which("fc-list"):
            return ""
        out = subprocess.run(["fc-list", f":lang={lang}", "file"], capture_output=True,
                             text=True).stdout.split("\n")
        return next((line.rstrip(": ").strip() for line in out if line.strip()), "")
    found = find()
    if found:
        return found
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(f"no font for {lang}: installing Debian's {CJK_PACKAGE}", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", CJK_PACKAGE, "fontconfig"],
                       check=True, env=env)
        found = find()
        if found:
            return found
    raise SystemExit(f"No font for {lang!r} text. Install one (Debian/Ubuntu: "
                     f"`sudo apt-get install {CJK_PACKAGE}`) and retry.")


def notebook_of(page: str, lang: i18n.Language, root: pathlib.Path = ROOT
                ) -> pathlib.Path | None:
    """The notebook a translated page's buttons must serve (None: the page
    is not a notebook)."""
    import translate_notebooks
    stem = page[:-len(".html")]
    for p, english, translated in translate_notebooks.targets(lang):
        if p == stem:
            return translated if lang.notebooks else english
    return None


_ENGLISH_RULE = browsercheck.check_buttons


def lang_buttons(lang: i18n.Language):
    """browsercheck.check_buttons for a translated site: the buttons must
    serve the translated notebook (one rule, in browsercheck)."""
    rule = _ENGLISH_RULE   # not browsercheck.check_buttons: _buttons_for swaps it

    def check(result, dom, page, site, source, root=ROOT):
        rule(result, dom, page, site, source, root,
             want=notebook_of(page, lang, root))
    return check


@contextlib.contextmanager
def _buttons_for(lang: i18n.Language):
    saved = browsercheck.check_buttons
    browsercheck.check_buttons = lang_buttons(lang)
    try:
        yield
    finally:
        browsercheck.check_buttons = saved


class _Head(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.lang, self.switches = None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "a" and "lang-switch" in (a.get("class") or "").split():
            self.switches.append((a.get("data-lang"), a.get("href")))


def switch_problems(site: pathlib.Path, lang: i18n.Language) -> list[str]:
    """Every page of the English site and of `lang`'s links to the same page
    in the other, and says its own language."""
    problems = []
    other = site / lang.site
    for here, there, code, want_lang in ((site, other, lang.code, "en"),
                                         (other, site, "en", lang.code.replace("_", "-"))):
        for page in checklinks.pages(here):
            rel = page.relative_to(here)
            text = page.read_text(encoding="utf-8", errors="replace")
            if browsercheck.REDIRECT.search(text):
                continue  # index.html: a redirect to the front page
            p = _Head()
            p.feed(text)
            name = f"{here.name}/{rel.as_posix()}"
            if p.lang != want_lang:
                problems.append(f"{name}: <html lang={p.lang!r}>, not {want_lang!r}")
            if not (there / rel).exists():
                continue
            hrefs = [h for c, h in p.switches if c == code]
            if not hrefs:
                problems.append(f"{name}: no language switch to {code}")
            elif (page.parent / hrefs[0]).resolve() != (there / rel).resolve():
                problems.append(f"{name}: the switch to {code} opens {hrefs[0]}, "
                                "not the same page")
    return problems


SEARCH_JS = """q => (typeof splitQuery === 'function') ? splitQuery(q) : null"""


def check_site(site: pathlib.Path, lang: i18n.Language,
               shots: pathlib.Path | None = None, shot_pages: set[str] | None = None
               ) -> list[browsercheck.PageResult]:
    """browsercheck's page check on every page of `lang`'s site (screenshots
    of shot_pages only, or of all when None)."""
    from playwright.sync_api import sync_playwright
    folder = site / lang.site
    if not (folder / "index.html").exists():
        raise SystemExit(f"{folder} has no index.html: run `make book-lang "
                         f"BOOK_LANG={lang.code}` first")
    pages = [p.relative_to(folder).as_posix() for p in checklinks.pages(folder)]
    with sync_playwright() as pw, _buttons_for(lang):
        browser = browsercheck.launch(pw)
        try:
            tab = browsercheck.Tab(browser)
            return [browsercheck.check_page(
                browser, folder, page,
                shots if shot_pages is None or page in shot_pages else None, tab)
                for page in pages]
        finally:
            browser.close()


def search_split(site: pathlib.Path, lang: i18n.Language, query: str) -> list[str] | None:
    """How the site's search page splits `query` (splitQuery of its
    language_data.js), in the browser."""
    from playwright.sync_api import sync_playwright
    page = site / lang.site / "search.html"
    with sync_playwright() as pw:
        browser = browsercheck.launch(pw)
        try:
            tab = browser.new_page()
            tab.route("**/*", lambda r: r.abort() if r.request.url.startswith("http")
                      else r.continue_())
            tab.goto(page.resolve().as_uri(), wait_until="load")
            return tab.evaluate(SEARCH_JS, query)
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    lang = i18n.language(argv[1] if len(argv) > 1 else "zh_CN")
    site = pathlib.Path(argv[2] if len(argv) > 2 else "_build/html")
    shots = pathlib.Path(argv[3]) if len(argv) > 3 else site.parent / f"screenshots-{lang.site}"
    if lang.code.startswith(("zh", "ja", "ko")):
        print(f"CJK font: {cjk_font(lang.code.split('_')[0])}")
    results = check_site(site, lang, shots)
    print(browsercheck.table(results))
    problems = [f"{r.page}: {p}" for r in results for p in r.problems()]
    problems += switch_problems(site, lang)
    for p in problems:
        print(f"FAIL {p}")
    print(f"langcheck {lang.code}: {sum(r.ok for r in results)} of {len(results)} pages ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
