"""Open every page of the built site in a real (headless) Chromium, offline.

For each page this checks what a reader sees:

- console: no console errors, no uncaught exceptions, and no request that
  leaves the machine (every http(s) request is refused and counted);
- math: MathJax typeset every formula (each `.math` element holds an
  `mjx-container`) and no raw TeX delimiters such as \\( \\) \\[ \\] $$ are
  left in the text a reader sees (code blocks excepted);
- images: every <img> loaded (naturalWidth > 0), and every Font Awesome
  icon was drawn;
- widgets: no widget output on the page (there is no widget manager on the
  static site), and every widget cell of the page's notebook has a static
  figure or table in its own or one of the next two code cells;
- answers: nothing that holds an answer (a solution, an answer cell's code,
  a check's output) is visible before its toggle is opened, and a solution's
  toggle opens; a check cell's output, hidden or not, says PASS and no value;
- self-check boxes (exercise pages): every exercise has one; each box that
  can judge on the page is driven with the keyboard: a blank answer says
  NOT ATTEMPTED, the right one PASS, a known wrong one NOT YET with its
  hint, and bad input ("3 ms", "0,5", text, a negative number) a message;
  no verdict shows the expected value. A box that needs a kernel links
  Colab;
- buttons: the launch (Colab), download and repository buttons exist where
  the page's source allows them, and resolve: Colab to a notebook in the
  configured repository (the student copy on exercise pages), download to a
  file of the site (on exercise pages, the student notebook byte for byte),
  repository to the URL of _config.yml.

It saves a screenshot of each page (FULL_PAGE_SHOTS whole, the others'
first screen) under _build/screenshots/ and prints one row per page. Chromium is Debian's (`apt-get install chromium`),
driven through playwright's Python API; no browser is ever downloaded.

usage: python tools/browsercheck.py [_build/html [_build/screenshots]]
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import checklinks  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def chromium() -> str:
    """Path of the system Chromium; installs Debian's package when missing
    and this user can (root with apt-get). Never downloads a browser build."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("chromium is missing: installing Debian's package", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"],
                       check=True, env=env)
        found = shutil.which("chromium")
        if found:
            return found
    raise SystemExit("No Chromium found. Install your system's package "
                     "(Debian/Ubuntu: `sudo apt-get install chromium`) and retry.")


def launch(playwright):
    """A headless system Chromium with a fresh profile."""
    return playwright.chromium.launch(executable_path=chromium(),
                                      args=CHROMIUM_FLAGS, headless=True)


# Runs in the page: wait for MathJax's first typeset, fonts and images.
WAIT_JS = """async () => {
  for (const img of document.images) img.loading = 'eager';
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) await mj.startup.promise;
  if (document.fonts) await document.fonts.ready;
  await Promise.all([...document.images].map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  await new Promise(r => setTimeout(r, 100));  // let icon scripts finish
  return true;
}"""

# What holds an answer: a worked solution (sphinx-exercise), an answer cell's
# code, a check cell's output, a cell tagged solution.
ANSWERS = ('.solution > :not(.admonition-title), .tag_hide-input .cell_input, '
           '.tag_hide-output .cell_output, .tag_solution')
# Runs in the page: whether an element can be seen (a closed toggle hides its
# content with display, visibility or opacity).
SHOWN_JS = """e => e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true,
                                    opacityProperty: true, visibilityProperty: true})"""

# Runs in the page: what the checks need, read from the rendered DOM.
INSPECT_JS = """() => {
  const ANSWERS = '""" + ANSWERS + """';
  const shown = """ + SHOWN_JS + """;
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !el.closest(skip)) texts.push(n.nodeValue);
  }
  const math = [...document.querySelectorAll('.math')];
  const cells = [...document.querySelectorAll('div.cell')].map(c => {
    const input = c.querySelector('.cell_input pre');
    const imgs = [...c.querySelectorAll('.cell_output img')];
    const out = c.querySelector('.cell_output');
    return {
      source: input ? input.innerText : null,
      images: imgs.filter(i => i.naturalWidth > 0).length,
      output: out ? out.innerText.trim().length : 0,
    };
  });
  const button = sel => [...document.querySelectorAll(sel)].map(a => a.getAttribute('href'));
  const answers = [...document.querySelectorAll(ANSWERS)];
  const checks = [...document.querySelectorAll('div.cell')].filter(c => {
    const input = c.querySelector('.cell_input pre');
    return input && input.textContent.includes('sb.check(');
  }).map(c => [...c.querySelectorAll('.cell_output pre')].map(o => o.textContent.trim()).join('\\n'));
  return {
    checks: checks,
    exercises: document.querySelectorAll('div.exercise').length,
    text: texts.join(' '),
    math: math.length,
    typeset: math.filter(m => m.querySelector('mjx-container')).length,
    images: [...document.images].map(i => ({src: i.getAttribute('src'),
                                            ok: i.complete && i.naturalWidth > 0})),
    icons: document.querySelectorAll('i.fa, i.fas, i.far, i.fab, i.fa-solid').length,
    widgets: document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets, .widget-area').length,
    cells: cells,
    answers: answers.length,
    answers_shown: answers.filter(shown).length,
    launch: button('.dropdown-launch-buttons a'),
    download: button('.dropdown-download-buttons a'),
    repository: button('a.btn-source-repository-button'),
  };
}"""

REDIRECT = re.compile(r'<meta[^>]+http-equiv="refresh"', re.I)
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$")


@dataclasses.dataclass
class PageResult:
    page: str
    console: list[str] = dataclasses.field(default_factory=list)
    math: int = 0
    untypeset: int = 0
    raw_tex: list[str] = dataclasses.field(default_factory=list)
    images_ok: int = 0
    images: int = 0
    broken_images: list[str] = dataclasses.field(default_factory=list)
    icons_undrawn: int = 0
    widget_cells: int = 0
    widget_problems: list[str] = dataclasses.field(default_factory=list)
    buttons: list[str] = dataclasses.field(default_factory=list)  # those present
    button_problems: list[str] = dataclasses.field(default_factory=list)
    answers: int = 0
    answers_shown: int = 0
    answer_problems: list[str] = dataclasses.field(default_factory=list)
    boxes: int = 0           # self-check boxes on the page
    boxes_judged: int = 0    # of them, those that judge on the page
    hints_shown: int = 0     # named-mistake hints the test saw a box give
    selfcheck_problems: list[str] = dataclasses.field(default_factory=list)
    screenshot: str = ""

    @property
    def ok(self) -> bool:
        return not (self.console or self.untypeset or self.raw_tex
                    or self.broken_images or self.icons_undrawn
                    or self.widget_problems or self.button_problems
                    or self.answer_problems or self.selfcheck_problems)

    def problems(self) -> list[str]:
        out = [f"console: {m}" for m in self.console]
        out += [f"{self.untypeset} of {self.math} formulas not typeset"] if self.untypeset else []
        out += [f"raw TeX in the text: {t!r}" for t in self.raw_tex]
        out += [f"image did not load: {s}" for s in self.broken_images]
        out += [f"{self.icons_undrawn} icons not drawn"] if self.icons_undrawn else []
        return (out + self.widget_problems + self.button_problems
                + self.answer_problems + self.selfcheck_problems)


def source_of(page: str, root: pathlib.Path = ROOT) -> pathlib.Path | None:
    """The book source a page was built from (.ipynb or .md), if any."""
    stem = page[:-len(".html")]
    for suffix in (".ipynb", ".md"):
        if (root / (stem + suffix)).exists():
            return root / (stem + suffix)
    return None


def widget_cells(notebook: pathlib.Path) -> list[str]:
    """Sources of the code cells whose stored outputs include a widget, and
    that a page shows (not removed whole)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "remove-cell" in tags or {"remove-input", "remove-output"} <= tags:
            continue
        if any(WIDGET_MIME in o.get("data", {}) for o in cell.get("outputs", [])):
            src = cell["source"]
            found.append(("".join(src) if isinstance(src, list) else src).strip())
    return found


def check_widgets(result: PageResult, dom: dict, source: pathlib.Path | None):
    if dom["widgets"]:
        result.widget_problems.append(
            f"{dom['widgets']} widget outputs on the page, which no widget "
            "manager draws offline: tag the cell remove-output and show a "
            "static figure beside it")
    if source is None or source.suffix != ".ipynb":
        return
    cells = dom["cells"]
    for src in widget_cells(source):
        result.widget_cells += 1
        where = [i for i, c in enumerate(cells)
                 if c["source"] is not None and c["source"].strip() == src]
        if not where:
            result.widget_problems.append(
                f"widget cell not found on the page: {src.splitlines()[0]!r}")
            continue
        near = cells[where[0]:where[0] + 3]
        if not any(c["images"] or c["output"] for c in near):
            result.widget_problems.append(
                f"no static figure or table next to the widget cell "
                f"{src.splitlines()[0]!r}")


_ENGLISH = object()


def check_buttons(result: PageResult, dom: dict, page: str, site: pathlib.Path,
                  source: pathlib.Path | None, root: pathlib.Path = ROOT,
                  want=_ENGLISH):
    """The repository, download and Colab buttons of one page.

    `want` is the notebook the download and Colab buttons must serve. By
    default (the English site) that is the student copy on an exercise page
    and the page's own notebook on a chapter (whose download is not
    compared); a translated site passes its translated notebook, or None for
    a page that is no notebook (tools/langcheck.py)."""
    repo_url, branch = checklinks.repository(root)
    problems = result.button_problems
    if want is _ENGLISH:
        is_exercise = (source is not None and source.suffix == ".ipynb"
                       and source.parent.name == "exercises")
        student = root / "exercises" / "student" / source.name if is_exercise else None
        download_want = student
        colab_want = ((student if student is not None else source)
                      if source is not None and source.suffix == ".ipynb" else None)
    else:
        download_want = colab_want = want

    repo = dom["repository"]
    if repo:
        result.buttons.append("repository")
    if not repo:
        problems.append("no repository button")
    elif any(h.rstrip("/") != repo_url for h in repo):
        problems.append(f"repository button {repo} is not {repo_url}")

    if source is not None:
        if dom["download"]:
            result.buttons.append("download")
        else:
            problems.append("no download button")
        for href in dom["download"]:
            target = (site / page).parent / urllib.parse.unquote(href.split("#")[0])
            if not target.is_file():
                problems.append(f"download button points at a missing file: {href}")
            elif (download_want is not None
                  and target.read_bytes() != download_want.read_bytes()):
                problems.append(f"download button serves {href}, not the "
                                f"notebook {download_want.relative_to(root)}")

    if colab_want is not None:
        colab = [h for h in dom["launch"] if "colab.research.google.com" in h]
        if colab:
            result.buttons.append("launch")
        else:
            problems.append("no Colab launch button")
        for href in colab:
            opened = checklinks.colab_target(href, repo_url)
            why = (f"opens a notebook outside {repo_url}" if opened is None
                   or not opened.startswith(repo_url + "/") else
                   checklinks.check_repository_link(opened, repo_url, branch, root))
            if why:
                problems.append(f"Colab button {why}: {href}")
            wanted = colab_want.relative_to(root)
            if opened and not opened.endswith("/" + wanted.as_posix()):
                problems.append(f"Colab button opens {opened}, not {wanted}")


def check_answers(result: PageResult, dom: dict, tab) -> None:
    """No answer shows before its toggle is opened; the first worked
    solution's toggle opens."""
    result.answers, result.answers_shown = dom["answers"], dom["answers_shown"]
    if result.answers_shown:
        result.answer_problems.append(
            f"{result.answers_shown} of {result.answers} answers visible "
            "before a toggle is opened")
    toggle = tab.query_selector(".solution.toggle .toggle-button")
    if toggle is None:
        return
    toggle.click()
    tab.wait_for_timeout(500)  # the toggle's opacity transition
    opened = ("() => [...document.querySelectorAll("
              "'.solution > :not(.admonition-title)')].some(" + SHOWN_JS + ")")
    if not tab.evaluate(opened):
        result.answer_problems.append("a worked solution's toggle does not open")


PASS_ONLY = re.compile(r"^\[PASS\] Exercise [\d.]+: correct\.$")

# Runs in the page: what each self-check box needs from its data, without
# reading the verdict logic: a right answer, a known wrong one and its hint.
BOX_PLAN_JS = """() => [...document.querySelectorAll('.sb-selfcheck')].map((box, i) => {
  const script = box.querySelector('script.sb-selfcheck-spec');
  const link = box.querySelector('a[href*="colab.research.google.com"]');
  if (!script) return {index: i, qid: box.dataset.qid, judged: false,
                       colab: link ? link.getAttribute('href') : null};
  const data = JSON.parse(script.textContent);
  const stem = s => [...s.toLowerCase()].filter(c => /[\\p{L}\\p{N}]/u.test(c)).join('')
                     .replace(/(.)bound$/, '$1');
  const leaves = data.spec.kind === 'parts'
      ? data.spec.parts.filter(p => p.spec.kind !== 'run')
      : [{key: null, spec: data.spec}];
  const right = l => l.spec.kind === 'number' ? String(l.spec.expected)
      : l.spec.kind === 'shape' ? '(' + l.spec.expected.join(', ') + ')'
      : l.spec.options.find(o => stem(o) === l.spec.expected);
  const wrong = (l, h) => l.spec.kind === 'number' ? String(h.target)
      : l.spec.kind === 'shape' ? '(' + h.value.join(', ') + ')'
      : l.spec.options.find(o => stem(o) === h.stem);
  const plan = {index: i, qid: box.dataset.qid, judged: true, inputs: leaves.length,
                right: leaves.map(right), expected: [], hint: null,
                number: leaves.findIndex(l => l.spec.kind === 'number'),
                colab: link ? link.getAttribute('href') : null};
  leaves.forEach((l, j) => {
    if (l.spec.kind === 'number') plan.expected.push(l.spec.expected);
    if (!plan.hint && l.spec.hints.length) {
      const h = l.spec.hints[l.spec.hints.length - 1];
      const typed = plan.right.slice();
      typed[j] = wrong(l, h);
      plan.hint = {typed: typed, messages: l.spec.hints.map(x => x.message),
                   positive: l.spec.kind === 'number' && l.spec.expected > 0, part: j};
    }
  });
  return plan;
})"""


def _answer(tab, index: int, typed: list[str], tab_to_button: bool = False
            ) -> dict:
    """Fill box `index` with `typed` and press Enter in its last field (or
    Tab to the Check button and press Space); the verdict's label and text."""
    box = tab.locator(".sb-selfcheck").nth(index)
    inputs = box.locator("input")
    for j, text in enumerate(typed):
        inputs.nth(j).fill(text)
    inputs.nth(len(typed) - 1).focus()
    if tab_to_button:
        tab.keyboard.press("Tab")
        focused = tab.evaluate("() => document.activeElement.tagName")
        if focused != "BUTTON":
            return {"label": "", "text": f"Tab from the last field reached a "
                    f"{focused}, not the Check button"}
        tab.keyboard.press("Space")
    else:
        tab.keyboard.press("Enter")
    out = box.locator(".sb-selfcheck-result")
    label = out.locator("strong").inner_text(timeout=2000)
    return {"label": label, "text": out.inner_text()}


def _shows_value(text: str, values: list[float]) -> str | None:
    """The expected value as `text` would spell it, if it does."""
    for v in values:
        forms = {repr(v), f"{v:.4g}", f"{v:.3g}", f"{v:g}"}
        if abs(v) >= 1000:
            forms.add(f"{v:,.0f}")
        for form in forms:
            if sum(c.isdigit() for c in form) < 3:
                continue  # "2" or "0.5" stand in many a hint's words
            if re.search(r"(?<![\d.])" + re.escape(form) + r"(?![\d])", text):
                return form
    return None


def check_selfcheck(result: PageResult, dom: dict, tab, page: str,
                    source: pathlib.Path | None, wrong_shot: pathlib.Path | None
                    = None) -> None:
    """Drive every self-check box of an exercise page with the keyboard."""
    problems = result.selfcheck_problems
    for i, text in enumerate(dom.get("checks", [])):
        if text and not all(PASS_ONLY.match(ln) for ln in text.splitlines()):
            problems.append(f"check output {i + 1} says more than PASS: {text[:80]!r}")
    is_exercise = (source is not None and source.suffix == ".ipynb"
                   and source.parent.name == "exercises")
    plans = tab.evaluate(BOX_PLAN_JS)
    result.boxes = len(plans)
    if not is_exercise:
        if plans:
            problems.append(f"{len(plans)} self-check boxes outside an exercise page")
        return
    if len(plans) != dom.get("exercises", 0):
        problems.append(f"{len(plans)} self-check boxes for {dom.get('exercises')} exercises")
    bad_inputs_done = False
    for plan in plans:
        qid = plan["qid"]
        if not plan["judged"]:
            if not plan["colab"] or "/exercises/student/" not in plan["colab"]:
                problems.append(f"box {qid}: needs a kernel but links no Colab "
                                "student notebook")
            continue
        result.boxes_judged += 1
        n = plan["inputs"]
        seen = []
        blank = _answer(tab, plan["index"], [""] * n)
        seen.append(blank["text"])
        if blank["label"] != "NOT ATTEMPTED":
            problems.append(f"box {qid}: a blank answer gave {blank['label']}")
        right = _answer(tab, plan["index"], plan["right"],
                        tab_to_button=result.boxes_judged == 1)
        if right["label"] != "PASS":
            problems.append(f"box {qid}: the right answer gave {right['text']!r}")
        hint = plan["hint"]
        if hint:
            wrong = _answer(tab, plan["index"], hint["typed"])
            seen.append(wrong["text"])
            if wrong["label"] != "NOT YET" or not any(
                    m in wrong["text"] for m in hint["messages"]):
                problems.append(f"box {qid}: a known wrong answer gave "
                                f"{wrong['text']!r}, not its hint")
            else:
                result.hints_shown += 1
                if wrong_shot is not None and not wrong_shot.exists():
                    box = tab.locator(".sb-selfcheck").nth(plan["index"])
                    box.scroll_into_view_if_needed()
                    wrong_shot.parent.mkdir(parents=True, exist_ok=True)
                    tab.screenshot(path=str(wrong_shot))
        k = plan["number"]
        if k >= 0 and not bad_inputs_done:
            bad_inputs_done = True
            base = list(plan["right"])
            cases = [("3 ms", "WRONG TYPE", "without"),
                     ("0,5", "WRONG TYPE", "point for decimals"),
                     ("about forty", "WRONG TYPE", "not a number"),
                     ("1.5e9", None, None),
                     ("-1", "NOT YET", "sign" if hint and hint["positive"] else "")]
            for typed, label, words in cases:
                base[k] = typed
                got = _answer(tab, plan["index"], base)
                seen.append(got["text"])
                ok = (got["label"] in ("PASS", "NOT YET", "NOT ATTEMPTED")
                      if label is None else
                      got["label"] == label and (words or "") in got["text"])
                if not ok:
                    problems.append(f"box {qid}: {typed!r} gave {got['text']!r}")
        for text in seen:
            shown = _shows_value(text, plan["expected"])
            if shown:
                problems.append(f"box {qid}: a verdict shows the answer {shown}")


class Tab:
    """One Chromium tab that checks page after page.  A context or a tab per
    page costs Chromium a new renderer process and a cold start of the
    page's scripts (MathJax): about a second of CPU a page, 64 pages in
    two editions.  Navigating replaces the page, its scripts and its
    state.  Console errors, uncaught exceptions, failed loads and refused
    network requests go to the result of the page being checked."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.result: PageResult | None = None

        def refuse(route):
            self.note(f"network request refused (offline): {route.request.url}")
            route.abort()

        self.context.route(re.compile(r"^(https?|wss?|ftp)://"), refuse)
        self.tab = self.context.new_page()
        self.tab.on("console", lambda m: m.type == "error" and self.note(m.text))
        self.tab.on("pageerror", lambda e: self.note(f"uncaught: {e}"))
        self.tab.on("requestfailed", lambda r: r.url.startswith("file:") and self.note(
            f"failed to load {r.url}: {r.failure}"))

    def note(self, text: str) -> None:
        if self.result is not None:
            self.result.console.append(text)

    def close(self) -> None:
        self.context.close()


def check_page(browser, site: pathlib.Path, page: str,
               shots: pathlib.Path | None, tab: Tab | None = None) -> PageResult:
    """Check one page of `site` in `tab` (a Tab of `browser`; a tab of its
    own when None)."""
    own = tab is None
    if own:
        tab = Tab(browser)
    try:
        result = tab.result = PageResult(page)
        _check_page(result, tab.tab, site, page, shots)
    finally:
        tab.result = None
        if own:
            tab.close()
    return result


def _check_page(result: PageResult, tab, site: pathlib.Path, page: str,
                shots: pathlib.Path | None) -> None:
    start = (site / page).resolve().as_uri()
    tab.goto(start, wait_until="load")
    if REDIRECT.search((site / page).read_text(encoding="utf-8", errors="replace")):
        tab.wait_for_url(lambda url: url != start, timeout=10_000)
        tab.wait_for_load_state("load")
        page_shown = tab.url[len((site.resolve().as_uri() + "/")):]
        result.page = f"{page} -> {page_shown}"
        page = page_shown
    tab.evaluate(WAIT_JS)
    dom = tab.evaluate(INSPECT_JS)

    result.math, result.untypeset = dom["math"], dom["math"] - dom["typeset"]
    result.raw_tex = [m.group(0)[:60] for m in RAW_TEX.finditer(dom["text"])][:5]
    result.images = len(dom["images"])
    result.images_ok = sum(i["ok"] for i in dom["images"])
    result.broken_images = [i["src"] for i in dom["images"] if not i["ok"]]
    result.icons_undrawn = dom["icons"]
    source = source_of(page)
    check_widgets(result, dom, source)
    check_buttons(result, dom, page, site, source)
    if shots is not None:
        shot = shots / (page[:-len(".html")].replace("/", "__") + ".png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(shot), full_page=full_page_shot(page))
        result.screenshot = str(shot)
    wrong_shot = (shots / (page[:-len(".html")].replace("/", "__")
                           + "__box-answered-wrongly.png")
                  if shots is not None else None)
    check_selfcheck(result, dom, tab, page, source, wrong_shot)
    check_answers(result, dom, tab)  # last: it opens a toggle


FULL_PAGE_SHOTS = ("intro.html", "chapters/01_rooflines.html",
                   "exercises/01_rooflines.html")
"""Pages photographed whole; every other page's screenshot is its first
screen (title, buttons, stamp, opening text).  A whole long page costs
Chromium about a second to paint and encode, times 64 pages in two
editions; SCALEBOOK_FULL_SHOTS=1 photographs every page whole."""


def full_page_shot(page: str) -> bool:
    """Whether `page` (a path inside a site) gets a whole-page screenshot."""
    return os.environ.get("SCALEBOOK_FULL_SHOTS") == "1" or page in FULL_PAGE_SHOTS


def check_site(site: pathlib.Path, shots: pathlib.Path | None = None) -> list[PageResult]:
    """Check every page of a built site in headless Chromium."""
    from playwright.sync_api import sync_playwright

    if not (site / "index.html").exists():
        raise SystemExit(f"{site} has no index.html: build the book first (make book)")
    pages = [p.relative_to(site).as_posix() for p in checklinks.pages(site)]
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            tab = Tab(browser)
            return [check_page(browser, site, page, shots, tab) for page in pages]
        finally:
            browser.close()


def table(results: list[PageResult]) -> str:
    """The per-page table, as Markdown."""
    rows = ["| page | console errors | untypeset math | images ok/total "
            "| widgets with static figure | answers behind toggles "
            "| self-check boxes (judged, hints seen) | buttons ok | result |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        untypeset = r.untypeset + len(r.raw_tex)
        widgets = (f"{r.widget_cells - len(r.widget_problems)}/{r.widget_cells}"
                   if r.widget_cells or r.widget_problems else "none")
        buttons = ("no: " + "; ".join(r.button_problems) if r.button_problems
                   else "yes (" + ", ".join(r.buttons) + ")")
        answers = (f"{r.answers - r.answers_shown}/{r.answers}" if r.answers
                   else "none")
        boxes = (f"{r.boxes} ({r.boxes_judged}, {r.hints_shown})" if r.boxes
                 else "none")
        rows.append(f"| {r.page} | {len(r.console)} | {untypeset} of {r.math} "
                    f"| {r.images_ok}/{r.images} | {widgets} | {answers} | {boxes} "
                    f"| {buttons} | {'ok' if r.ok else 'FAIL'} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    site = pathlib.Path(argv[1] if len(argv) > 1 else "_build/html")
    shots = pathlib.Path(argv[2] if len(argv) > 2 else site.parent / "screenshots")
    results = check_site(site, shots)
    print(table(results))
    for r in results:
        for p in r.problems():
            print(f"FAIL {r.page}: {p}")
    print(f"browsercheck: {sum(r.ok for r in results)} of {len(results)} pages ok; "
          f"screenshots in {shots}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
