"""Link each chapter's first use of a glossary term to its entry.

For every chapter notebook and every term of glossary.md (with the other
spellings in ALIASES, and a plural s), the first use in the chapter's
prose becomes {term}`text <term>`. Only running text is touched: headings,
directive lines, code, math, links and other roles are left alone, and a
chapter that already links a term is not linked again. Words too common to
be worth a link on every page (COMMON) are linked only in the chapter their
entry names.

Changing a paragraph changes its translation message: run this before the
Chinese catalogs are updated, not after.

usage: python tools/glossary_links.py [--check] [chapters/NN_x.ipynb ...]
"""
from __future__ import annotations

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "glossary.md"

ALIASES = {
    "AllGather": ["all-gather"],
    "ReduceScatter": ["reduce-scatter"],
    "AllReduce": ["all-reduce"],
    "AllToAll": ["all-to-all"],
    "critical batch size": ["critical batch"],
    "rematerialization": ["activation checkpointing", "remat"],
    "paged attention": ["PagedAttention"],
    "mixture of experts": ["mixture-of-experts"],
    "learning-rate schedule": ["learning rate schedule"],
    "load balancing": ["load-balancing"],
    "wraparound": ["wrap-around"],
    "compute-bound": ["compute bound"],
    "memory-bound": ["memory bound"],
}
COMMON = {"token", "chip", "bandwidth", "latency", "throughput", "FLOPs",
          "JAX", "XLA", "expert", "activation", "profile", "slice", "ring",
          "hop", "shard", "collective", "decode", "jit", "mesh", "sharding"}
"""Linked only in the chapter whose page the entry names."""

# Spans of a line that must not change: inline code, math, roles, links,
# HTML tags and bare URLs.
PROTECTED = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$[^$]+\$|\{[a-z:-]+\}`[^`]*`"
                       r"|\[[^\]]*\]\([^)]*\)|\[[^\]]*\]\[[^\]]*\]|<[^>]+>"
                       r"|https?://\S+")


def entries() -> dict[str, str]:
    """term -> the docname of the chapter its entry links."""
    text = GLOSSARY.read_text(encoding="utf-8")
    body = re.search(r"```\{glossary\}\n(.*?)\n```", text, re.S).group(1)
    defs: dict[str, str] = {}
    term = None
    for line in body.splitlines():
        if not line.strip() or line.startswith(":"):
            continue
        if not line.startswith(" "):
            term = line.strip()
            defs[term] = ""
        else:
            defs[term] += line + "\n"
    return {t: re.search(r"\{doc\}`([^`]+)`", d).group(1)
            for t, d in defs.items()}


def pattern(term: str) -> re.Pattern:
    words = [term] + ALIASES.get(term, [])
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    flags = 0 if any(c.isupper() for c in term) else re.I
    return re.compile(rf"(?<![\w`{{/.-])({alts})(e?s)?(?![\w`}}-])", flags)


def prose_lines(source: str) -> list[tuple[int, bool]]:
    """(index, is running text) for each line of a markdown cell."""
    out, fence, math = [], None, False
    for i, line in enumerate(source.split("\n")):
        s = line.strip()
        if fence:
            out.append((i, False))
            if s.startswith(fence):
                fence = None
            continue
        m = re.match(r"^(`{3,}|:{3,})", s)
        if m:
            fence = m.group(1) if s.startswith("```") else None
            out.append((i, False))
            continue
        if s.startswith("$$"):
            math = not math if s.count("$$") == 1 else math
            out.append((i, False))
            continue
        out.append((i, not (math or s.startswith(("#", ":", "|-", "<"))
                            or not s)))
    return out


def link_first(source: str, term: str, pat: re.Pattern) -> str | None:
    """`source` with the first running-text use of `term` linked, or None."""
    lines = source.split("\n")
    for i, prose in prose_lines(source):
        if not prose:
            continue
        line = lines[i]
        spans = [m.span() for m in PROTECTED.finditer(line)]
        for m in pat.finditer(line):
            if any(a <= m.start() < b for a, b in spans):
                continue
            text = m.group(0)
            role = (f"{{term}}`{text}`" if text == term
                    else f"{{term}}`{text} <{term}>`")
            lines[i] = line[:m.start()] + role + line[m.end():]
            return "\n".join(lines)
    return None


def link_chapter(nb: dict, docname: str, terms: dict[str, str]) -> list[str]:
    """Link the terms in one notebook (in place); the terms linked."""
    cells = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    done = []
    for term, home in terms.items():
        if term in COMMON and home != docname:
            continue
        pat = pattern(term)
        already = re.compile(r"\{term\}`[^`]*?<?" + re.escape(term) + ">?`")
        if any(already.search("".join(c["source"])) for c in cells):
            continue
        for cell in cells:
            src = "".join(cell["source"])
            new = link_first(src, term, pat)
            if new is not None:
                cell["source"] = new.splitlines(keepends=True)
                done.append(term)
                break
    return done


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [pathlib.Path(a) for a in argv[1:] if a != "--check"] or \
        sorted((ROOT / "chapters").glob("*.ipynb"))
    terms = entries()
    total = 0
    for path in paths:
        path = path.resolve()
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        docname = path.relative_to(ROOT).with_suffix("").as_posix()
        done = link_chapter(nb, docname, terms)
        total += len(done)
        if done:
            print(f"{path.relative_to(ROOT)}: {len(done)} terms linked: "
                  + ", ".join(done))
            if not check:
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False)
                                + "\n", encoding="utf-8")
    print(f"{total} first uses {'to link' if check else 'linked'}")
    return 1 if check and total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
