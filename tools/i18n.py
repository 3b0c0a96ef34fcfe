"""Translations of the book: catalogs, their check, status, and the builds.

One source: the English pages.  Sphinx's gettext builder extracts their
prose into one catalog per page; translators fill in
locale/<lang>/LC_MESSAGES/<page>.po; a build with `language` set replaces
each paragraph by its translation.  locale/coverage.yml declares the
languages and the pages each must translate completely.

usage: python tools/i18n.py update          gettext build + sphinx-intl update
       python tools/i18n.py status [LANG]   per page: total/translated/fuzzy/untranslated
       python tools/i18n.py check [LANG]    catalogs against the English source
                                            (syntax, MyST, protected tokens,
                                            stale pages, declared coverage)
       python tools/i18n.py lint [LANG]     the same without coverage (run
                                            before every translated build)
       python tools/i18n.py config LANG OUT the Jupyter Book config of LANG
       python tools/i18n.py build LANG [--site DIR] [--builder html|singlehtml]
"""
from __future__ import annotations

import collections
import dataclasses
import pathlib
import re
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import frontpage  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
COVERAGE = LOCALE / "coverage.yml"
BUILD = ROOT / "_build" / "i18n"
BIN = pathlib.Path(sys.executable).parent


# --------------------------------------------------------------------------
# The declared languages (locale/coverage.yml)

@dataclasses.dataclass
class Language:
    code: str            # gettext/Sphinx language, e.g. zh_CN
    label: str           # shown in the language switch
    site: str            # folder of the built site under _build/html/
    pages: list[str]     # pages held to complete translation
    notebooks: str | None = None  # folder name of the translated notebooks
    root: pathlib.Path = ROOT

    @property
    def catalogs(self) -> pathlib.Path:
        return self.root / "locale" / self.code / "LC_MESSAGES"

    def catalog(self, page: str) -> pathlib.Path:
        return self.catalogs / f"{page}.po"


def book_pages(root: pathlib.Path = ROOT) -> list[str]:
    """Every page of the book: _toc.yml's root and its files (no suffix)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [str(toc["root"])] + frontpage.toc_files(root)


# Catalogs that are not pages: the labels of hidden code cells
# (tools/translatable_prompts.py).
SHARED = ["ui"]


def catalog_names(root: pathlib.Path = ROOT) -> list[str]:
    """Every catalog a language has: one per page, and the shared ones."""
    return book_pages(root) + SHARED


def languages(root: pathlib.Path = ROOT) -> dict[str, Language]:
    """The languages declared in locale/coverage.yml, by code."""
    path = root / "locale" / "coverage.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    toc = catalog_names(root)
    out = {}
    for code, spec in (data.get("languages") or {}).items():
        pages = spec.get("pages", [])
        if pages == "all":
            pages = list(toc)
        unknown = [p for p in pages if p not in toc]
        if unknown:
            raise SystemExit(f"{path}: {code} declares pages that are not in "
                             f"_toc.yml: {', '.join(unknown)}; write each as in "
                             "_toc.yml (e.g. chapters/11_conclusion), or `all`")
        out[code] = Language(code, str(spec.get("label", code)),
                             str(spec.get("site", code)), list(pages),
                             spec.get("notebooks"), root)
    return out


def language(code: str, root: pathlib.Path = ROOT) -> Language:
    langs = languages(root)
    for lang in langs.values():
        if code in (lang.code, lang.site):
            return lang
    raise SystemExit(f"unknown language {code!r}; declared in "
                     f"{COVERAGE.relative_to(ROOT)}: {', '.join(langs)}")


# --------------------------------------------------------------------------
# Configs and builds

def config(lang: Language | None, root: pathlib.Path = ROOT) -> dict:
    """_config.yml for a build from the stored outputs, in `lang` (None: the
    English source, e.g. for the gettext builder).  Generated, never edited:
    _config.yml stays the one source."""
    conf = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    conf.setdefault("execute", {})["execute_notebooks"] = "off"
    sphinx = conf.setdefault("sphinx", {})
    # The generated file lives under _build/: paths become absolute.
    sphinx["local_extensions"] = {k: str(root / v) for k, v in
                                  (sphinx.get("local_extensions") or {}).items()}
    conf["bibtex_bibfiles"] = [str(root / b) for b in conf.get("bibtex_bibfiles", [])]
    if lang is not None:
        cfg = sphinx.setdefault("config", {})
        cfg["language"] = lang.code
        cfg["locale_dirs"] = [str(root / "locale")]
        # Chinese search with no word segmenter installed (tools/cjksearch.py)
        sphinx["local_extensions"]["cjksearch"] = str(root / "tools")
        title = translate_text(lang, "intro", conf.get("title", ""))
        if title:
            conf["title"] = title
    return conf


def write_config(lang: Language | None, out: pathlib.Path) -> pathlib.Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# generated by tools/i18n.py from _config.yml: do not edit\n"
                   + yaml.safe_dump(config(lang), allow_unicode=True, sort_keys=False),
                   encoding="utf-8")
    return out


def jupyter_book(conf: pathlib.Path, out: pathlib.Path, builder: str) -> None:
    args = [str(BIN / "jupyter-book"), "build", str(ROOT), "--config", str(conf),
            "--path-output", str(out), "-W", "-n", "--keep-going"]
    if builder in ("html", "singlehtml"):
        args += ["--builder", builder]
    else:
        args += ["--builder", "custom", "--custom-builder", builder]
    r = subprocess.run(args, cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"the {builder} build failed (warnings are errors): "
                         "see the messages above")


def gettext_build() -> pathlib.Path:
    """Extract the English source's messages: one .pot per page."""
    conf = write_config(None, BUILD / "config-gettext.yml")
    out = BUILD / "gettext"
    pots = out / "_build" / "gettext"
    if pots.exists():
        shutil.rmtree(pots)  # a page removed from the book leaves no .pot
    jupyter_book(conf, out, "gettext")
    return pots


def update() -> None:
    """Bring every declared language's catalogs in line with the English."""
    pots = gettext_build()
    langs = languages()
    cmd = [str(BIN / "sphinx-intl"), "update", "-p", str(pots), "-d", str(LOCALE),
           "-w", "76"]
    for code in langs:
        cmd += ["-l", code]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    toc = set(catalog_names())
    for lang in langs.values():
        for po in sorted(lang.catalogs.rglob("*.po")):
            page = po.relative_to(lang.catalogs).with_suffix("").as_posix()
            if page not in toc:
                print(f"{po.relative_to(ROOT)}: page {page} is no longer in the "
                      "book; `git rm` it (or `git mv` it to the page's new name "
                      "and run this again)")
    print(status_table())


# --------------------------------------------------------------------------
# Reading catalogs

class CatalogError(Exception):
    """A problem with a catalog: file, line, what to do."""


_PO_STRING = r'"(?:[^"\\]|\\.)*"'
_PO_LINE = re.compile(r'^(?:(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+)?'
                      + _PO_STRING + r'\s*$')


def po_syntax(path: pathlib.Path) -> tuple[int, str] | None:
    """(line, what is wrong) of the first syntax error of a .po file, or
    None.  polib skips some errors silently (an unclosed string), Sphinx's
    compiler fails later with a traceback: this reads it strictly first."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        return 1, f"not UTF-8 ({e.reason} at byte {e.start})"
    last = None  # the keyword whose strings the current line continues
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            last = None
            continue
        if s.startswith("#"):
            continue
        if not _PO_LINE.match(s):
            if s.startswith(("msg", '"')) and s.count('"') % 2:
                return n, "a string is not closed (or an inner \" is not escaped)"
            return n, f"not a msgid/msgstr line or a \"...\" string: {s[:40]!r}"
        if s.startswith('"'):
            if last is None:
                return n, "a string with no msgid/msgstr above it"
            continue
        key = re.match(r"[a-z_]+", s).group(0)
        if key == "msgstr" and last not in ("msgid", "msgid_plural", "msgstr"):
            return n, "a msgstr without its msgid"
        last = key
    return None


def read_po(path: pathlib.Path):
    """polib's catalog of `path`; a syntax error becomes a CatalogError with
    the file and the line."""
    import polib
    bad = po_syntax(path)
    if bad:
        raise CatalogError(f"{_rel(path)}:{bad[0]}: not a valid .po file ({bad[1]}); "
                           "fix it there (each line of a msgstr is one \"...\" "
                           "string, inner quotes written \\\"), or see "
                           f"`msgfmt -c -o /dev/null {_rel(path)}`")
    try:
        return polib.pofile(str(path), wrapwidth=76)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        m = re.search(r"line (\d+)", str(e))
        line = m.group(1) if m else "?"
        raise CatalogError(f"{_rel(path)}:{line}: not a valid .po file ({e}); "
                           "fix the quoting there (every line of a msgstr is one "
                           "\"...\" string, inner quotes written \\\") or check "
                           f"it with `msgfmt -c -o /dev/null {_rel(path)}`") from None


def _rel(path: pathlib.Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _page_catalogs(lang: Language) -> dict[str, pathlib.Path]:
    return {po.relative_to(lang.catalogs).with_suffix("").as_posix(): po
            for po in sorted(lang.catalogs.rglob("*.po"))}


def translations(lang: Language, page: str) -> dict[str, str]:
    """msgid -> msgstr of the page's translated, not fuzzy, messages."""
    path = lang.catalog(page)
    if not path.exists():
        return {}
    return {e.msgid: e.msgstr for e in read_po(path)
            if e.msgstr and not e.obsolete and "fuzzy" not in e.flags}


def translate_text(lang: Language, page: str, text: str) -> str | None:
    try:
        return translations(lang, page).get(text)
    except CatalogError:
        return None


# --------------------------------------------------------------------------
# Status

Counts = collections.namedtuple("Counts", "total translated fuzzy untranslated")


def counts(path: pathlib.Path) -> Counts:
    entries = [e for e in read_po(path) if not e.obsolete]
    fuzzy = sum("fuzzy" in e.flags for e in entries)
    done = sum(bool(e.msgstr) and "fuzzy" not in e.flags for e in entries)
    return Counts(len(entries), done, fuzzy, len(entries) - done - fuzzy)


def status(root: pathlib.Path = ROOT) -> dict[str, dict[str, Counts]]:
    """language -> page -> counts, for every page of the book."""
    out = {}
    for lang in languages(root).values():
        out[lang.code] = {page: counts(lang.catalog(page)) if lang.catalog(page).exists()
                          else None for page in catalog_names(root)}
    return out


def status_table() -> str:
    rows = []
    for code, pages in status().items():
        lang = languages()[code]
        rows.append(f"\n{code} ({lang.label}; declared complete: "
                    f"{len(lang.pages)} of {len(pages)} pages)")
        rows.append(f"{'page':32} {'total':>6} {'done':>6} {'fuzzy':>6} {'todo':>6}")
        tot = [0, 0, 0, 0]
        for page, c in pages.items():
            if c is None:
                rows.append(f"{page:32} {'no catalog: run make i18n-update':>26}")
                continue
            mark = "  (declared complete)" if page in lang.pages else ""
            rows.append(f"{page:32} {c.total:6} {c.translated:6} {c.fuzzy:6} "
                        f"{c.untranslated:6}{mark}")
            tot = [a + b for a, b in zip(tot, c)]
        rows.append(f"{'all pages':32} {tot[0]:6} {tot[1]:6} {tot[2]:6} {tot[3]:6}")
    return "\n".join(rows)


# --------------------------------------------------------------------------
# Protected tokens and MyST checks

TARGET_ROLES = {"ref", "numref", "doc", "term", "eq", "download", "any"}
MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$\w])\$(?=\S)(?:[^$\\]|\\.)+?(?<=\S)\$(?![\w$])", re.S)
LINK = re.compile(r"\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
INDIRECT = re.compile(r"\[[^\]\n]+\]\[[^\]\n]*\]")


_ROLE_START = re.compile(r"\{([A-Za-z][\w:.+-]*)\}(?=`)")


def inline_spans(text: str) -> tuple[list[tuple[str, str, str]], str, bool]:
    """Roles and inline code of a message, read left to right as MyST does
    (a `{x}` inside inline code is code, not a role): ([(kind, name, whole)],
    the text with them blanked out, whether every backtick run was closed)."""
    spans, rest, closed = [], [], True
    i = 0
    while i < len(text):
        m = _ROLE_START.match(text, i)
        start = m.end() if m else i
        if m or text[i] == "`":
            ticks = re.match(r"`+", text[start:]).group(0)
            end = text.find(ticks, start + len(ticks))
            while end != -1 and text[end + len(ticks):end + len(ticks) + 1] == "`":
                end = text.find(ticks, end + len(ticks) + 1)
            if end == -1:
                closed = False
                rest.append(text[i:])
                break
            whole = text[i:end + len(ticks)]
            spans.append(("role" if m else "code", m.group(1) if m else "", whole))
            rest.append(" ")
            i = end + len(ticks)
        else:
            rest.append(text[i])
            i += 1
    return spans, "".join(rest), closed


def protected(text: str) -> collections.Counter:
    """The parts of a message a translation must keep as they are: roles
    (only the target of ref/numref/doc/term), math, inline code, link
    targets."""
    found = collections.Counter()
    spans, rest, _ = inline_spans(text)
    for kind, name, whole in spans:
        if kind == "role" and name in TARGET_ROLES:
            body = whole[len(name) + 2:].strip("`")
            t = re.search(r"<([^<>]+)>\s*$", body)
            found[f"{{{name}}}`…<{t.group(1) if t else body.strip()}>`"] += 1
        else:
            found[whole] += 1
    for m in MATH.finditer(rest):
        found[m.group(0)] += 1
    rest = MATH.sub(" ", rest)
    for m in LINK.finditer(rest):
        found[f"link ({m.group(1)})"] += 1
    for m in AUTOLINK.finditer(rest):
        found[f"link <{m.group(1)}>"] += 1
    return found


def myst_problems(text: str) -> list[str]:
    """What would break MyST in a translated message (empty: none)."""
    out = []
    if text.lstrip().startswith("---"):
        out.append("starts with `---`, which MyST reads as front matter or a "
                   "rule: start with a word (or write \\---)")
    _, stripped, closed = inline_spans(text)
    m = re.search(r"\{[A-Za-z][\w:.+-]*\}(?!`)", stripped)
    if m:
        out.append(f"role {m.group(0)} has no `content` after it (an unclosed "
                   "or broken role): write it as in the English, "
                   "{role}`content`")
    elif not closed:
        out.append("an odd number of backticks: a role or inline code is not "
                   "closed")
    bare = MATH.sub(" ", stripped).replace("\\$", "")
    if bare.count("$") % 2:
        out.append("an odd number of `$`: a formula is not closed")
    if INDIRECT.search(stripped):
        out.append("an indirect link [text][target] loses its target in "
                   "translation: write an inline link [text](url)")
    return out


def token_problems(msgid: str, msgstr: str) -> list[str]:
    want, got = protected(msgid), protected(msgstr)
    if want == got:
        return []
    missing = list((want - got).elements())
    extra = list((got - want).elements())
    out = []
    if missing:
        out.append("dropped or changed: " + ", ".join(missing))
    if extra:
        out.append("not in the English: " + ", ".join(extra))
    return [p + " (copy math, roles, inline code and link targets exactly "
            "from the msgid)" for p in out]


# --------------------------------------------------------------------------
# The check

@dataclasses.dataclass
class Problem:
    file: str
    line: int | str
    what: str

    def __str__(self):
        return f"{self.file}:{self.line}: {self.what}"


def msgstr_line(path: pathlib.Path, entry) -> int:
    """The line of the entry's msgstr (polib gives the entry's first line)."""
    lines = _lines(path)
    for n in range(max(entry.linenum, 1), len(lines) + 1):
        if lines[n - 1].startswith("msgstr"):
            return n
    return entry.linenum


_LINES: dict[pathlib.Path, tuple[float, list[str]]] = {}


def _lines(path: pathlib.Path) -> list[str]:
    stamp = path.stat().st_mtime
    if path not in _LINES or _LINES[path][0] != stamp:
        _LINES[path] = (stamp, path.read_text(encoding="utf-8").splitlines())
    return _LINES[path][1]


def lint_catalog(path: pathlib.Path) -> list[Problem]:
    """Syntax, MyST and protected tokens of one catalog."""
    try:
        po = read_po(path)
    except CatalogError as e:
        m = re.match(r"(.*?):(\S+?): (.*)", str(e), re.S)
        return [Problem(m.group(1), m.group(2), m.group(3))]
    out = []
    for e in po:
        if e.obsolete or not e.msgstr or "fuzzy" in e.flags:
            continue  # a fuzzy msgstr is not used; coverage reports it
        line = msgstr_line(path, e)
        for p in myst_problems(e.msgstr):
            if not myst_problems(e.msgid) or p not in myst_problems(e.msgid):
                out.append(Problem(_rel(path), line, f"msgstr {p}"))
        for p in token_problems(e.msgid, e.msgstr):
            out.append(Problem(_rel(path), line, p))
    return out


def source_problems(pots: pathlib.Path) -> list[Problem]:
    """English messages that cannot survive translation."""
    import polib
    out = []
    for pot in sorted(pots.rglob("*.pot")):
        page = pot.relative_to(pots).with_suffix("").as_posix()
        for e in polib.pofile(str(pot)):
            if INDIRECT.search(inline_spans(e.msgid)[1]):
                out.append(Problem(page, "?", f"the English has an indirect link "
                                   f"[text][target] ({e.msgid[:60]!r}...): write it "
                                   "as an inline link [text](url) in the source"))
            if e.msgid.lstrip().startswith("---"):
                out.append(Problem(page, "?", f"an English message starts with `---` "
                                   f"({e.msgid[:40]!r}): reword the source"))
    return out


def stale_catalogs(lang: Language, toc: list[str]) -> list[Problem]:
    out = []
    for page, po in _page_catalogs(lang).items():
        if page not in toc:
            out.append(Problem(_rel(po), 1, f"a catalog for page {page}, which is not "
                               "in _toc.yml: `git rm` it, or `git mv` it to the "
                               "page's new name and run `make i18n-update`"))
    return out


def coverage_problems(lang: Language, pots: pathlib.Path | None) -> list[Problem]:
    """Every message of each declared page translated and not fuzzy, against
    the English source's .pot when given (else the catalog's own msgids)."""
    import polib
    out = []
    for page in lang.pages:
        po_path = lang.catalog(page)
        if not po_path.exists():
            out.append(Problem(_rel(po_path), 1, f"{lang.code} declares {page} "
                               "complete but it has no catalog: run `make i18n-update`"))
            continue
        try:
            po = read_po(po_path)
        except CatalogError:
            continue  # reported by lint
        by_id = {e.msgid: e for e in po if not e.obsolete}
        want = ([e.msgid for e in polib.pofile(str(pots / f"{page}.pot"))]
                if pots is not None and (pots / f"{page}.pot").exists()
                else list(by_id))
        for msgid in want:
            e = by_id.get(msgid)
            short = msgid if len(msgid) < 70 else msgid[:67] + "..."
            if e is None:
                out.append(Problem(_rel(po_path), 1, f"the English message {short!r} "
                                   "is not in the catalog: run `make i18n-update`, "
                                   "then translate it"))
            elif "fuzzy" in e.flags:
                out.append(Problem(_rel(po_path), msgstr_line(po_path, e), f"fuzzy (the English "
                                   f"changed): check the translation of {short!r} "
                                   "against the new msgid, then delete the "
                                   "`#, fuzzy` line"))
            elif not e.msgstr:
                out.append(Problem(_rel(po_path), msgstr_line(po_path, e), f"untranslated: {short!r} "
                                   f"({lang.code} declares {page} complete in "
                                   "locale/coverage.yml)"))
    return out


def check(codes: list[str] | None = None, pots: pathlib.Path | None = None,
          coverage: bool = True, root: pathlib.Path = ROOT) -> list[Problem]:
    langs = ([language(c, root) for c in codes] if codes
             else list(languages(root).values()))
    toc = catalog_names(root)
    out = source_problems(pots) if pots is not None else []
    for lang in langs:
        out += stale_catalogs(lang, toc)
        for po in _page_catalogs(lang).values():
            out += lint_catalog(po)
        if coverage:
            out += coverage_problems(lang, pots)
    return out


def report(problems: list[Problem], what: str) -> int:
    for p in problems:
        print(p)
    print(f"i18n {what}: {len(problems)} problems" if problems else f"i18n {what}: ok")
    return 1 if problems else 0


# --------------------------------------------------------------------------
# Build of a translated site

def build(lang: Language, site: pathlib.Path, builder: str = "html") -> pathlib.Path:
    """Check the catalogs, build `lang` from the stored outputs; for html,
    put it under site/<lang.site>/ with its notebooks and language switch.
    Returns the built folder."""
    if report(check([lang.code], coverage=False), f"catalogs of {lang.code}"):
        raise SystemExit(f"fix the catalogs of {lang.code} first (above)")
    conf = write_config(lang, BUILD / f"config-{lang.code}.yml")
    out = BUILD / lang.code
    # A fresh environment: Sphinx notices a changed catalog, not a changed
    # extension or _toc.yml caption; with stored outputs a full read is cheap.
    shutil.rmtree(out / "_build" / ".doctrees", ignore_errors=True)
    jupyter_book(conf, out, builder)
    built = out / "_build" / builder
    import postbuild
    postbuild.drop_cdn_font_awesome(built)
    if builder == "singlehtml":
        return built
    postbuild.retarget(built)
    import langsite
    langsite.retarget_notebooks(built, lang)
    if not (site / "index.html").exists():
        english_site(site)
    target = site / lang.site
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(built, target)
    langsite.add_switches(site)
    return target


def english_site(site: pathlib.Path) -> None:
    """Build the English site from the stored outputs into `site` (a
    `<dir>/_build/html`), for a translated site to sit in and link to."""
    if site.name != "html" or site.parent.name != "_build":
        raise SystemExit(f"{site} has no English site: build it first (make book)")
    print(f"{site} has no English site: building it from the stored outputs")
    jupyter_book(write_config(None, BUILD / "config-en.yml"), site.parent.parent, "html")
    import postbuild
    postbuild.retarget(site)
    postbuild.drop_cdn_font_awesome(site)


def checklinks(site: pathlib.Path, lang: Language) -> int:
    """Every link of the translated site, and of the English pages (which
    now link to it); prints what is broken."""
    import checklinks as cl
    bad = 0
    for where in (site / lang.site, site):
        problems, _, n = cl.check(where)
        for p in problems:
            print(f"BROKEN {p}")
        print(f"checklinks {where}: {n} links, {len(problems)} broken")
        bad += len(problems)
    return bad


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "update":
            update()
            return 0
        if cmd == "status":
            print(status_table())
            return 0
        if cmd in ("check", "lint"):
            pots = gettext_build() if cmd == "check" else None
            return report(check(args or None, pots, coverage=cmd == "check"), cmd)
        if cmd == "config":
            write_config(language(args[0]), pathlib.Path(args[1]))
            return 0
        if cmd == "build":
            site = pathlib.Path(args[args.index("--site") + 1]) if "--site" in args \
                else ROOT / "_build" / "html"
            builder = args[args.index("--builder") + 1] if "--builder" in args else "html"
            lang = language(args[0])
            built = build(lang, site.resolve(), builder)
            print(f"built: {built}")
            if builder == "html" and checklinks(site.resolve(), lang):
                return 1
            return 0
    except CatalogError as e:
        print(e)
        return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
