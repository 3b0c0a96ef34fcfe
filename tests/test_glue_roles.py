"""Every glue role is in the form the Chinese build can resolve."""
import json
import subprocess
import sys

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import glue_roles  # noqa: E402


def test_no_plain_key_glue_role_remains_in_published_markdown():
    left = [(p.name, i, r) for p in glue_roles.pages()
            for i, r in glue_roles.plain_roles(p)]
    assert not left, f"plain-key glue roles (run tools/glue_roles.py): {left[:5]}"


def test_rewrite_names_the_page_and_keeps_a_format_spec(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source":
                     ["A {glue:text}`k1` and {glue:text}`k2:.1f`, ",
                      "{glue:text}`other.ipynb::k3:s` stays."]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "07_x.ipynb"
    path.write_text(json.dumps(nb))
    assert glue_roles.rewrite(path) == 2
    src = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert "{glue:text}`07_x.ipynb::k1:s`" in src
    assert "{glue:text}`07_x.ipynb::k2:.1f`" in src
    assert "{glue:text}`other.ipynb::k3:s`" in src
    assert glue_roles.plain_roles(path) == []


def test_check_mode_fails_on_a_plain_role(tmp_path, monkeypatch):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {},
                     "source": ["{glue:text}`k`"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_y.ipynb"
    path.write_text(json.dumps(nb))
    monkeypatch.setattr(glue_roles, "pages", lambda: [path])
    assert glue_roles.main(["--check"]) == 1
