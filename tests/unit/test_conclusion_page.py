"""The conclusion is a markdown page, so nothing glues numbers into it: it
must type none. And the citation metadata it shows must match the
library's version and repository."""
import pathlib
import re

import scalebook

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_conclusion_types_no_number():
    text = (ROOT / "chapters" / "11_conclusion.md").read_text()
    text = re.sub(r"\{[a-z]+\}`[^`]*`", "", text)  # {cite}`...`, {doc}`...`
    text = re.sub(r"`[^`]*`", "", text)  # code
    text = re.sub(r"<https?://[^>]+>", "", text)  # links
    text = "\n".join(ln for ln in text.splitlines()
                     if not ln.startswith(":"))  # directive options
    for name in ("Llama 3", "DeepSeek-V3"):  # names, not quantities
        text = text.replace(name, "")
    assert not re.findall(r"\d", text), re.findall(r".{20}\d.{20}", text)


def test_citation_file_matches_the_library():
    cff = (ROOT / "CITATION.cff").read_text()
    assert f'version: "{scalebook.__version__}"' in cff
    assert f'repository-code: "{scalebook.REPOSITORY_URL}"' in cff
    # the page shows the first lines of it: title, authors, version, URL
    head = cff.splitlines()[:9]
    assert any(ln.startswith("version:") for ln in head)
    assert any(ln.startswith("repository-code:") for ln in head)
