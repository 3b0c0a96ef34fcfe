"""Sphinx extension: full-text search of Chinese pages with no segmenter.

Sphinx's Chinese search (sphinx.search.zh) indexes Chinese words only when
the optional package jieba is installed; without it a Chinese page indexes
its Latin words and nothing else, so no Chinese query finds anything.  This
extension replaces it, for `language: zh_CN` builds only (tools/i18n.py adds
it), by a segmenter-free index: every run of Han characters is indexed as
its overlapping character pairs (and a lone character as itself), and the
search box splits a query the same way in the browser, so 分片方式 finds the
pages holding 分片, 片方 and 方式.  Latin words are indexed and stemmed as in
English, as Sphinx's own Chinese search does.  Nothing is downloaded.
"""
from __future__ import annotations

import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{HAN}]+")
_LATIN = re.compile(r"[a-zA-Z0-9_]+")


def han_terms(text: str) -> list[str]:
    """Overlapping pairs of each run of Han characters (a lone one alone)."""
    out = []
    for run in _HAN_RUN.findall(text):
        out += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    return out


# The browser side: the same split of a query (searchtools.js calls it).
JS_SPLITTER = r"""
function splitQuery(query) {
  const out = [];
  const han = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g;
  for (const run of query.match(han) || []) {
    if (run.length === 1) out.push(run);
    for (let i = 0; i + 1 < run.length; i++) out.push(run.slice(i, i + 2));
  }
  for (const w of query.replace(han, " ").split(/[^\p{Letter}\p{Number}_]+/gu)) {
    if (w) out.push(w);
  }
  return out;
}
"""


def setup(app):
    from sphinx.search.zh import SearchChinese

    class SearchChineseByPairs(SearchChinese):
        js_splitter_code = JS_SPLITTER

        def init(self, options):
            super().init(options)

        def split(self, input: str) -> list[str]:
            latin = [t.strip() for t in _LATIN.findall(input)]
            self.latin_terms.extend(latin)
            return han_terms(input) + latin

        def word_filter(self, stemmed_word: str) -> bool:
            return bool(_HAN_RUN.fullmatch(stemmed_word)) or len(stemmed_word) > 1

        def stem(self, word: str) -> str:
            return word if _HAN_RUN.fullmatch(word) else super().stem(word)

    app.add_search_language(SearchChineseByPairs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
