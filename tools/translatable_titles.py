"""Sphinx extension: exercise titles are extracted for translation.

sphinx-exercise builds the title of ``exercise-start`` from the directive's
argument with no source position and no raw text, and Sphinx's gettext
builder skips such a node: the book's exercise titles would stay English in
every translation. This extension registers ``exercise-start`` (and
``exercise``) again as subclasses that give the title node its page, line
and MyST text, so the gettext builder extracts it and a translated build
replaces it like any paragraph. Nothing changes in the English build.
"""
from __future__ import annotations


def _mark_titles(directive, result):
    from sphinx_exercise.nodes import exercise_subtitle

    source, line = directive.get_source_info()
    for top in result:
        for node in top.findall(exercise_subtitle):
            node.rawsource = directive.arguments[0] if directive.arguments else node.astext()
            node.source, node.line = source, line
            node["translatable"] = True
    return result


def _remember_titles(app, doctree):
    """Keep each page's exercise titles as read: sphinx-exercise's post-
    transform later folds them into the title line, before the gettext
    builder looks for messages."""
    from sphinx_exercise.nodes import exercise_subtitle

    titles = getattr(app.env, "exercise_titles", {})
    titles[app.env.docname] = [
        (n.rawsource, n.source, n.line)
        for n in doctree.findall(exercise_subtitle) if n.get("translatable")]
    app.env.exercise_titles = titles


def _purge(app, env, docname):
    getattr(env, "exercise_titles", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    env.exercise_titles = getattr(env, "exercise_titles", {})
    for name in docnames:
        if name in getattr(other, "exercise_titles", {}):
            env.exercise_titles[name] = other.exercise_titles[name]


def _add_to_catalog(app, doctree, docname):
    """For the gettext builder only: put the page's titles in its catalog."""
    if app.builder.name != "gettext":
        return
    from sphinx.builders.gettext import MsgOrigin
    from sphinx.util.i18n import docname_to_domain

    domain = docname_to_domain(docname, app.config.gettext_compact)
    for msg, source, line in getattr(app.env, "exercise_titles", {}).get(docname, []):
        app.builder.catalogs[domain].add(msg, MsgOrigin(source, line))


def setup(app):
    from sphinx_exercise.directive import ExerciseDirective, ExerciseStartDirective

    class TranslatableExerciseStart(ExerciseStartDirective):
        def run(self):
            return _mark_titles(self, super().run())

    class TranslatableExercise(ExerciseDirective):
        def run(self):
            return _mark_titles(self, super().run())

    app.setup_extension("sphinx_exercise")
    app.add_directive("exercise-start", TranslatableExerciseStart, override=True)
    app.add_directive("exercise", TranslatableExercise, override=True)
    app.connect("doctree-read", _remember_titles)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("doctree-resolved", _add_to_catalog)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
