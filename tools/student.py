"""Generate student exercise notebooks from the solution notebooks.

Solutions are authored once, in ``exercises/NN_name.ipynb``, between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines (the nbgrader/otter
convention).  The student copy, ``exercises/student/NN_name.ipynb``, gets:

- each solution block replaced by a stub: ``name = ...`` for every name
  the block assigns that later code reads (the answers a check cell
  grades; a dict answer keeps its keys, ``{"total": ..., "active": ...}``,
  where the statement names exactly those keys), and the signature and docstring of every function with a
  ``...`` body.  Working steps that nothing later reads are dropped, and
  givens stay as they are: write them above ``# BEGIN SOLUTION``;
- cells tagged ``solution`` (worked solutions in prose) removed;
- sphinx-exercise's directives, which Jupyter and Colab would show as raw
  text, turned back into plain Markdown (tools/exercise_directives.py): an
  ``exercise-start`` cell becomes a heading ``## Exercise 1.1: title`` above
  its statement, ``exercise-end`` and ``solution`` cells are dropped;
- all outputs and execution counts cleared, and site-only metadata dropped.

usage: python tools/student.py [--check] [NOTEBOOK ...]
  --check  exit 1 if a committed student notebook differs from what the
           solution notebook generates (the two have drifted apart).
"""
from __future__ import annotations

import ast
import copy
import json
import pathlib
import re
import sys
import textwrap

# The sibling tool, found however this file is loaded (script or import).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import exercise_directives  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
SITE_ONLY_TAGS = {"hide-input", "hide-output", "hide-cell", "remove-input",
                  "remove-output", "remove-cell", "nbval-check-output",
                  "nbval-ignore-output", "nbval-skip"}


_KEYS = re.compile(r'the keys ((?:`"[^"`]+"`(?:, | and )?)+)')


def stated_keys(markdown: str) -> set[str]:
    """The dict keys a statement names ("... with the keys `"total"` and
    `"active"`"); empty when it names none."""
    return {k for m in _KEYS.finditer(markdown)
            for k in re.findall(r'`"([^"`]+)"`', m.group(1))}


def _slot(value: ast.expr | None, keys: set[str] = frozenset()) -> str:
    """What a stub assigns: `...`, or for a dict answer whose keys are
    exactly those the statement names, that dict with `...` for each value,
    so the reader sees its keys.  (Keys the statement does not name may be
    part of the answer, e.g. which axes a rule splits: never shown.)"""
    if (isinstance(value, ast.Dict) and value.keys
            and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                    for k in value.keys)
            and {k.value for k in value.keys} == set(keys)):
        return "{" + ", ".join(f"{json.dumps(k.value)}: ..."
                               for k in value.keys) + "}"
    return "..."


def _stub(block: list[str], wanted: set[str] | None = None,
          keys: set[str] = frozenset()) -> list[str]:
    """Student stub lines for the solution lines `block`: a stub for each
    assigned name in `wanted` (all of them when None) and each function."""
    text = "\n".join(block)
    indent = len(block[0]) - len(block[0].lstrip()) if block else 0
    pad = " " * indent
    tree = ast.parse(textwrap.dedent(text))
    src = textwrap.dedent(text).splitlines()
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names = t.elts if isinstance(t, ast.Tuple) else [t]
                for n in names:
                    if isinstance(n, ast.Name) and (
                            wanted is None or n.id in wanted):
                        out.append(f"{pad}{n.id} = {_slot(node.value, keys)}  "
                                   "# your answer here")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            body0 = node.body[0]
            has_doc = (isinstance(body0, ast.Expr)
                       and isinstance(getattr(body0, "value", None), ast.Constant)
                       and isinstance(body0.value.value, str))
            last = body0.end_lineno if has_doc else body0.lineno - 1
            header = src[first - 1:last]
            out.extend(pad + line for line in header)
            body_pad = " " * (body0.col_offset)
            out.append(f"{pad}{body_pad}...  # your code here")
        # any other statement is part of the solution and is dropped
    if not out:
        raise ValueError("a solution block must assign a name that a check "
                         "reads, or define a function, so the student stub "
                         "has something to fill in; nothing after it reads "
                         "what this block assigns:\n" + text)
    return out


def _names_read(source: str) -> set[str]:
    """Names that code outside the solution blocks of `source` reads."""
    outside, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif not inside:
            outside.append(line)
    try:
        tree = ast.parse("\n".join(outside))
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def strip_solutions(source: str, wanted: set[str] | None = None,
                    keys: set[str] = frozenset()) -> str:
    """Replace every BEGIN/END SOLUTION block in `source` with its stub;
    `wanted` names the assigned names to keep as ``name = ...`` slots;
    `keys`, the dict keys the exercise's statement names."""
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == BEGIN:
            j = i + 1
            while j < len(lines) and lines[j].strip() != END:
                if lines[j].strip() == BEGIN:
                    raise ValueError(f"nested {BEGIN} at line {j + 1}")
                j += 1
            if j == len(lines):
                raise ValueError(f"{BEGIN} at line {i + 1} has no {END}")
            out.extend(_stub(lines[i + 1:j], wanted, keys))
            i = j + 1
        elif lines[i].strip() == END:
            raise ValueError(f"{END} at line {i + 1} has no {BEGIN}")
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


_source = exercise_directives.source


def student_notebook(nb: dict) -> dict:
    """The student version of solution notebook `nb` (a JSON dict)."""
    nb = copy.deepcopy(nb)
    # An answer is a name some code outside the solution blocks reads.
    read = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            read |= _names_read(_source(cell))
    cells = []
    keys: set[str] = set()      # the keys the current statement names
    for cell in exercise_directives.student_cells(nb["cells"]):
        meta = cell.get("metadata", {})
        tags = set(meta.get("tags", []))
        if "solution" in tags:
            continue
        src = _source(cell)
        if cell["cell_type"] == "markdown" and src.startswith("## Exercise"):
            keys = stated_keys(src)
        if cell["cell_type"] == "code":
            if BEGIN in src:
                src = strip_solutions(src, read, keys)
            cell["outputs"] = []
            cell["execution_count"] = None
        cell["source"] = src
        keep = sorted(tags - SITE_ONLY_TAGS)
        meta.pop("mystnb", None)
        meta.pop("execution", None)  # nbclient's timestamps differ every run
        if keep:
            meta["tags"] = keep
        else:
            meta.pop("tags", None)
        cell["metadata"] = meta
        cell.pop("id", None)
        cells.append(cell)
    nb["cells"] = cells
    nb["nbformat"], nb["nbformat_minor"] = 4, 4
    return nb


def student_path(solution: pathlib.Path) -> pathlib.Path:
    """Where the student version of `solution` is written."""
    return solution.parent / "student" / solution.name


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [pathlib.Path(a).resolve() for a in argv if a != "--check"]
    if not paths:
        paths = sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))
    stale = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        text = dumps(student_notebook(nb))
        target = student_path(path)
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target))
        else:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    if stale:
        print("student notebooks out of date (run `make student`):\n  "
              + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
