"""Print the single-page build of the book to one PDF, offline.

`jupyter-book build . --builder singlehtml` writes the whole book as one page;
this opens it in the system Chromium (see browsercheck.py: no browser is
downloaded, no request leaves the machine), waits until MathJax has typeset
every formula and every image has loaded, moves the exercises' worked
solutions into an appendix at the end (each exercise keeps a link to its
solution), and prints the page to PDF with page numbers.

usage: python tools/bookpdf.py [_build/singlehtml [_build/pdf/book.pdf]]
"""
from __future__ import annotations

import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import browsercheck  # noqa: E402

# Runs in the page. A solution is found by its class, never by the words of
# its label (the Chinese edition's labels are Chinese): a sphinx-exercise
# solution (.solution), a cell tagged solution (.tag_solution), or an answer
# cell's toggle: the hidden code of a cell tagged hide-input inside an
# exercise box, or whose code holds the book's `# BEGIN SOLUTION` marker.
# Each moves, open, into the appendix, under the title of its exercise: the
# sphinx-exercise box it sits in or the exercise its solution links to (else
# its section's heading). The first one of an exercise leaves a link behind.
# The argument gives the appendix's words in the page's language (LABELS).
APPENDIX_JS = r"""(t) => {
  t = t || {};
  const words = Object.assign({
    heading: 'Appendix: worked solutions',
    intro: 'The exercises show no solutions in print; each one links here, to ' +
           'the solution the website keeps behind a toggle.',
    link: 'Worked solution: see the appendix.', exercise: 'Exercise'}, t);
  const answerCell = el => el.tagName === 'DETAILS' && el.classList.contains('above-input')
      && !!el.closest('.cell.tag_hide-input')
      && (!!el.closest('.exercise') || /#\s*BEGIN SOLUTION/.test(el.textContent));
  const found = [...document.querySelectorAll(
      'details, .solution, .tag_solution')].filter(el =>
      !el.classList.contains('exercise') && (
        el.classList.contains('solution') || el.classList.contains('tag_solution')
        || answerCell(el)));
  const solutions = found.filter(el => !found.some(o => o !== el && o.contains(el)));
  if (!solutions.length) return 0;
  const appendix = document.createElement('section');
  appendix.id = 'appendix-worked-solutions';
  appendix.className = 'appendix-solutions';
  const h1 = document.createElement('h1');
  h1.textContent = words.heading;
  const p = document.createElement('p');
  p.textContent = words.intro;
  appendix.append(h1, p);
  const exerciseOf = el => {
    const box = el.closest('.exercise');
    if (box) return box;
    const link = el.classList.contains('solution') &&
      el.querySelector(':scope > .admonition-title a[href*="#"]');
    const id = link ? decodeURIComponent(link.getAttribute('href').split('#').pop()) : '';
    const target = id && document.getElementById(id);
    return target && target.classList.contains('exercise') ? target : null;
  };
  const titleOf = group => {
    const t = group.classList.contains('exercise')
      ? group.querySelector(':scope > .admonition-title')
      : group.querySelector(':scope > h1, :scope > h2, :scope > h3');
    return t ? t.textContent.replace(/#\s*$/, '').replace(/\s+/g, ' ').trim() : words.exercise;
  };
  const groups = new Map();
  let n = 0;
  for (const el of solutions) {
    const group = exerciseOf(el) || el.closest('section') || document.body;
    if (!groups.has(group)) {
      n += 1;
      const h = document.createElement('h3');
      h.id = 'worked-solution-' + n;
      h.textContent = titleOf(group);
      appendix.appendChild(h);
      const note = document.createElement('p');
      note.className = 'solution-moved';
      const a = document.createElement('a');
      a.href = '#worked-solution-' + n;
      a.textContent = words.link;
      note.appendChild(a);
      el.before(note);
      const part = document.createElement('div');
      appendix.appendChild(part);
      groups.set(group, part);
    }
    let moved = el;
    if (el.tagName === 'DETAILS') {  // its contents, without the toggle
      moved = document.createElement('div');
      moved.className = 'solution-code';
      [...el.children].filter(c => c.tagName !== 'SUMMARY').forEach(c => moved.appendChild(c));
      el.remove();
    }
    moved.classList.remove('dropdown', 'toggle', 'toggle-hidden');
    moved.querySelectorAll('.toggle-button, .tb-icon').forEach(b => b.remove());
    moved.querySelectorAll('.toggle-hidden').forEach(b => b.classList.remove('toggle-hidden'));
    groups.get(group).appendChild(moved);
  }
  const main = document.querySelector('article.bd-article') || document.body;
  main.appendChild(appendix);
  return solutions.length;
}"""

# The appendix's words by the page's <html lang> (English when not listed).
LABELS = {
    "zh": {"heading": "附录：习题解答",
           "intro": "印刷版的练习不显示解答；每道练习都链接到这里，即网站上折叠显示的解答。",
           "link": "解答：见附录。", "exercise": "练习"},
    "mn": {"heading": "Хавсралт: бодолтууд",
           "intro": "Хэвлэмэл хувилбарт дасгалын бодолт харагдахгүй; дасгал бүр "
                    "вэбсайт дээр товчны ард нуусан бодолт руугаа энд холбогдоно.",
           "link": "Бодолт: хавсралтыг үзнэ үү.", "exercise": "Дасгал"},
}


def labels(lang: str | None) -> dict:
    """The appendix's words for a page whose <html lang> is `lang`."""
    return LABELS.get((lang or "en").split("-")[0].split("_")[0], {})


# Print layout: each chapter on a new page, code wrapped rather than cut at
# the margin, figures and tables kept whole.
PRINT_CSS = """
@media print {
  span[id^="document-"] + section, .appendix-solutions { break-before: page; }
  pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  img, figure, table, .cell_input, .cell_output, .admonition { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
  .appendix-solutions .admonition > * { display: block !important; }
  /* the theme's print style hides each section's first h1 */
  .appendix-solutions > h1 { display: block !important; }
}
"""

FOOTER = ('<div style="font-size:8px; width:100%; text-align:center; color:#555;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def page_count(pdf: pathlib.Path) -> int:
    """Number of pages of a PDF written by Chromium (its page objects)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))


def fonts(pdf: pathlib.Path) -> list[str]:
    """Names of the fonts embedded in a PDF written by Chromium."""
    return sorted({m.decode() for m in re.findall(
        rb"/(?:BaseFont|FontName)\s*/(?:[A-Z]{6}\+)?([\w-]+)", pdf.read_bytes())})


def cjk(lang: str | None) -> bool:
    return (lang or "").split("-")[0].split("_")[0] in ("zh", "ja", "ko")


def print_book(single: pathlib.Path, out: pathlib.Path) -> dict:
    """Print _build/singlehtml to a PDF; returns what was done."""
    from playwright.sync_api import sync_playwright

    index = single / "intro.html"
    if not index.exists():
        raise SystemExit(f"{index} is missing: run the singlehtml build first (make pdf)")
    refused = []
    with sync_playwright() as pw:
        browser = browsercheck.launch(pw)
        context = browser.new_context(viewport={"width": 1100, "height": 1400})
        context.route(re.compile(r"^(https?|wss?|ftp)://"),
                      lambda route: (refused.append(route.request.url), route.abort()))
        # One page holds the whole book (MBs of HTML, hundreds of images):
        # on a busy machine it loads in minutes, not playwright's 30 s.
        context.set_default_timeout(600_000)
        page = context.new_page()
        page.goto(index.resolve().as_uri(), wait_until="load")
        page.evaluate(browsercheck.WAIT_JS)
        dom = page.evaluate(browsercheck.INSPECT_JS)
        lang = page.evaluate("() => document.documentElement.lang")
        if cjk(lang):
            import langcheck
            langcheck.cjk_font(lang.split("-")[0])  # installed when missing
        moved = page.evaluate(APPENDIX_JS, labels(lang))
        page.add_style_tag(content=PRINT_CSS)
        page.emulate_media(media="print")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(out), format="A4", print_background=True,
                 margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
                 display_header_footer=True, header_template="<span></span>",
                 footer_template=FOOTER)
        browser.close()
    return {"pages": page_count(out), "math": dom["math"],
            "untypeset": dom["math"] - dom["typeset"],
            "images": len(dom["images"]),
            "broken_images": [i["src"] for i in dom["images"] if not i["ok"]],
            "solutions_moved": moved, "refused": refused, "lang": lang,
            "fonts": fonts(out)}


def main(argv: list[str]) -> int:
    single = pathlib.Path(argv[1] if len(argv) > 1 else "_build/singlehtml")
    out = pathlib.Path(argv[2] if len(argv) > 2 else "_build/pdf/book.pdf")
    r = print_book(single, out)
    print(f"pdf: {out}: {r['pages']} pages; {r['math'] - r['untypeset']} of "
          f"{r['math']} formulas typeset; {r['images'] - len(r['broken_images'])} of "
          f"{r['images']} images loaded; {r['solutions_moved']} solutions moved "
          "to the appendix"
          + (f"; fonts: {', '.join(r['fonts'])}" if cjk(r["lang"]) else ""))
    problems = ([f"{r['untypeset']} formulas not typeset"] if r["untypeset"] else []) \
        + [f"image did not load: {s}" for s in r["broken_images"]] \
        + [f"network request refused (offline): {u}" for u in r["refused"]] \
        + ([f"no CJK font embedded for lang={r['lang']} (fonts: {r['fonts']})"]
           if cjk(r["lang"]) and not any(re.search("CJK|Hei|Han|Song|Ming", f)
                                         for f in r["fonts"]) else [])
    for p in problems:
        print(f"FAIL {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
