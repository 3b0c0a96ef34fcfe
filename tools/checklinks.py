"""Check every link, anchor and resource of a built site, offline.

For each HTML page of the site (not the theme's templates under _static/ nor
the copies under _sources/):

- a relative link or resource must name a file of the site; a #fragment must
  name an id (or <a name>) on the page it points to;
- a resource the page loads (script, stylesheet, image, frame, font preload)
  must come from the site itself, never from the network;
- a link into the repository (the `repository.url` of _config.yml, or a Colab
  link to it) must name a file that is in the repository on this checkout;
- any other link to the web is listed, not fetched (this check is offline).

usage: python tools/checklinks.py [_build/html]   (exit status 1 on a problem)
"""
from __future__ import annotations

import dataclasses
import html.parser
import pathlib
import re
import sys
import urllib.parse

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK_ATTRS = {"href", "src", "xlink:href"}
RESOURCE_TAGS = {"script", "img", "iframe", "source", "video", "audio",
                 "embed", "input", "track"}
# <link rel=...> values that make the browser load the target.
LOADING_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload",
                "apple-touch-icon", "manifest", "prefetch"}


@dataclasses.dataclass
class Link:
    page: pathlib.Path
    tag: str
    url: str
    loads: bool  # the browser fetches it with the page (not a link to follow)


class _Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        rels = set((a.get("rel") or "").lower().split())
        for attr in LINK_ATTRS:
            url = a.get(attr)
            if url is None:
                continue
            loads = tag in RESOURCE_TAGS or (tag == "link" and bool(rels & LOADING_RELS))
            self.links.append((tag, url.strip(), loads))

    handle_startendtag = handle_starttag


@dataclasses.dataclass
class Site:
    root: pathlib.Path
    ids: dict[pathlib.Path, set[str]]
    links: list[Link]


def pages(site: pathlib.Path) -> list[pathlib.Path]:
    """The site's HTML pages, without theme templates and source copies, nor
    the pages of another site built inside it (a translation in
    _build/html/zh/, which has its own _static/; tools/langsite.py)."""
    nested = {d.parent.name for d in site.glob("*/_static")}
    return sorted(p for p in site.rglob("*.html")
                  if not {"_static", "_sources"} & set(p.relative_to(site).parts)
                  and p.relative_to(site).parts[0] not in nested)


def read_site(site: pathlib.Path) -> Site:
    ids, links = {}, []
    for page in pages(site):
        parser = _Parser()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        ids[page.resolve()] = parser.ids
        links += [Link(page, tag, url, loads) for tag, url, loads in parser.links]
    return Site(site, ids, links)


def repository(root: pathlib.Path = ROOT) -> tuple[str, str]:
    """(url, branch) of the repository named in _config.yml."""
    conf = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = conf.get("repository") or {}
    return str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", "main"))


def _ids_of(site: Site, target: pathlib.Path) -> set[str]:
    target = target.resolve()
    if target not in site.ids:
        parser = _Parser()
        parser.feed(target.read_text(encoding="utf-8", errors="replace"))
        site.ids[target] = parser.ids
    return site.ids[target]


def check_repository_link(url: str, repo_url: str, branch: str,
                          root: pathlib.Path) -> str | None:
    """None if a link into the repository names a file of it, else why not."""
    if url.rstrip("/") == repo_url:
        return None
    path = urllib.parse.urlsplit(url).path
    repo_path = urllib.parse.urlsplit(repo_url).path
    m = re.match(re.escape(repo_path) + r"/(?:blob|tree|raw|edit)/([^/]+)/(.*)$", path)
    if not m:
        return f"points into the repository but not at a file: {url}"
    if m.group(1) != branch:
        return f"names branch {m.group(1)!r}, the book's is {branch!r}: {url}"
    file = urllib.parse.unquote(m.group(2))
    if not (root / file).exists():
        return f"names {file}, which is not in the repository: {url}"
    return None


def colab_target(url: str, repo_url: str) -> str | None:
    """The repository URL of the notebook a Colab link opens, if it is ours."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc != "colab.research.google.com":
        return None
    m = re.match(r"/github/(.*)$", parts.path)
    if not m:
        return None
    repo = urllib.parse.urlsplit(repo_url)
    return f"{repo.scheme}://{repo.netloc}/{m.group(1)}"


def check(site_dir: pathlib.Path, root: pathlib.Path = ROOT,
          repo: tuple[str, str] | None = None) -> tuple[list[str], list[str], int]:
    """(problems, external links, number of links checked) for a built site."""
    repo_url, branch = repo or repository(root)
    site = read_site(site_dir)
    problems, external = [], set()
    for link in site.links:
        where = f"{link.page.relative_to(site_dir)}: <{link.tag}>"
        url = link.url
        if not url or url == "#" or url.startswith(("javascript:", "data:", "mailto:")):
            continue
        parts = urllib.parse.urlsplit(url)
        if parts.scheme or url.startswith("//"):
            if link.loads:
                problems.append(f"{where} loads {url} from the network "
                                "(the site must work offline: vendor it)")
                continue
            opened = colab_target(url, repo_url)
            if opened is not None and not opened.startswith(repo_url + "/"):
                problems.append(f"{where} opens a notebook outside the book's "
                                f"repository {repo_url}: {url}")
            elif repo_url and (opened or url).startswith(repo_url):
                why = check_repository_link(opened or url, repo_url, branch, root)
                if why:
                    problems.append(f"{where} {why}")
            else:
                external.add(url)
            continue
        path = urllib.parse.unquote(parts.path)
        target = (link.page.parent / path).resolve() if path else link.page.resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            problems.append(f"{where} points at a missing file: {url}")
            continue
        fragment = urllib.parse.unquote(parts.fragment)
        if fragment and target.suffix == ".html":
            if fragment not in _ids_of(site, target):
                problems.append(f"{where} points at a missing anchor: {url}")
    return problems, sorted(external), len(site.links)


def main(argv: list[str]) -> int:
    site = pathlib.Path(argv[1] if len(argv) > 1 else "_build/html")
    if not (site / "index.html").exists():
        print(f"{site} has no index.html: build the book first (make book)")
        return 1
    problems, external, n = check(site)
    for url in external:
        print(f"  external (not fetched): {url}")
    for p in problems:
        print(f"BROKEN {p}")
    print(f"checklinks: {n} links in {len(pages(site))} pages, "
          f"{len(problems)} broken, {len(external)} external not fetched")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
