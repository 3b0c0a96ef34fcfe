"""The reader's code, as the checker meets it: is it still the stub, run it
under a time limit with its prints captured, and whose error is whose.

Every grader of a write-the-code exercise (`grading.Custom` and
`codegrade`) goes through this module, so there is one stub detector
(`is_stub`), one "returned None" message (`RETURNED_NONE`), one time
limit (`TIME_LIMIT_S` seconds of the reader's code per check) and one
way to tell the reader's mistakes (an exception raised in their code, a
signature that does not match the statement, a kernel whose simulated
devices were never set up) from the book's own bugs.
"""
from __future__ import annotations

import contextlib
import dis
import functools
import inspect
import signal
import sys
import threading
import types
from typing import Any, Iterator

RETURNED_NONE = "did you forget `return`, or leave a case unhandled?"
"""What a reader is told when their function returned None."""

TIME_LIMIT_S = 20
"""Seconds the reader's code may run in one check before it is stopped
(a right answer to any exercise runs in well under one second)."""

PRINT_LINES = 5
"""Lines of the reader's own printing shown under a check's result."""


# ---------------------------------------------------------------------------
# The reader's function and its stub
# ---------------------------------------------------------------------------
_PLUMBING = {"RESUME", "NOP", "CACHE", "EXTENDED_ARG", "PUSH_NULL", "PRECALL",
             "COPY_FREE_VARS", "MAKE_CELL", "KW_NAMES"}


def function_of(fn: Any) -> types.FunctionType | None:
    """The plain Python function behind `fn` (decorators unwrapped)."""
    try:
        fn = inspect.unwrap(fn)
    except Exception:
        return None
    while isinstance(fn, (functools.partial, types.MethodType)):
        fn = fn.func if isinstance(fn, functools.partial) else fn.__func__
    return fn if isinstance(fn, types.FunctionType) else None


def is_stub(fn: Any) -> bool:
    """True for a function that is still the student notebook's stub.

    The stub (written by tools/student.py) keeps the signature and the
    docstring and has `...` for a body; `pass` and ``raise
    NotImplementedError`` count too. Read from the compiled code, so it
    works without the source: a body that does nothing but return None,
    or only raises NotImplementedError.
    """
    f = function_of(fn)
    if f is None:
        return False
    ops = [(i.opname, i.argval) for i in dis.get_instructions(f)
           if i.opname not in _PLUMBING]
    if ops in ([("RETURN_CONST", None)],
               [("LOAD_CONST", None), ("RETURN_VALUE", None)]):
        return True
    # raise NotImplementedError(...): on 3.14 the name is a common constant
    names = set(f.__code__.co_names) | {
        getattr(arg, "__name__", str(arg)) for op, arg in ops
        if op == "LOAD_COMMON_CONSTANT"}
    return (names == {"NotImplementedError"} and bool(ops)
            and ops[-1][0] == "RAISE_VARARGS"
            and all(op in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_CONST", "CALL",
                           "LOAD_COMMON_CONSTANT", "RAISE_VARARGS")
                    for op, _ in ops))


def _roots(fn: Any) -> list[types.FunctionType]:
    """The reader's functions: `fn` itself, a callable object's __call__,
    or the methods a class defines (not those it inherits from the book)."""
    f = function_of(fn)
    if f is not None:
        return [f]
    if isinstance(fn, type):
        return [g for v in vars(fn).values()
                if (g := function_of(v.__func__ if isinstance(
                    v, (staticmethod, classmethod)) else v)) is not None]
    call = getattr(type(fn), "__call__", None)
    return [call] if isinstance(call, types.FunctionType) else []


def codes(fn: Any) -> set[types.CodeType]:
    """Code objects of the reader's function(s) and of what they define."""
    todo = [f.__code__ for f in _roots(fn)]
    out: set[types.CodeType] = set()
    while todo:
        code = todo.pop()
        if code not in out:
            out.add(code)
            todo.extend(c for c in code.co_consts
                        if isinstance(c, types.CodeType))
    return out


def reader_frame(err: BaseException, fn: Any):
    """The innermost traceback entry inside the reader's code, or None if
    the exception did not pass through it (then it is the grader's).

    An answer without Python code to recognise (a builtin) is never blamed:
    graders check `callable` and types themselves.
    """
    mine = codes(fn)
    tb, found = err.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code in mine:
            found = tb
        tb = tb.tb_next
    return found


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, cut to `limit` chars."""
    first = (str(err).strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[:limit] + "..."


def reader_error_message(err: BaseException, frame, fn: Any) -> str:
    """What to tell a reader whose own code raised `err` (at `frame`)."""
    name = getattr(function_of(fn), "__name__", None) or getattr(
        fn, "__name__", None)
    code = frame.tb_frame.f_code
    where = (f" (line {frame.tb_lineno}, in {code.co_name})"
             if code.co_name != "<lambda>" else "")
    who = name if name and name != "<lambda>" else "your function"
    return (f"{who} raised {type(err).__name__}: {first_line(err)}{where}. "
            "Fix it, then run this cell again.")


def signature_mismatch(err: BaseException, fn: Any, call: str = ""
                       ) -> str | None:
    """The reader-facing message when `err` is Python refusing to call the
    reader's function with the statement's arguments (a parameter missing,
    one too many, a name the grader did not use), else None.

    `call` is the statement's signature, e.g. "step_seconds(cfg, chip,
    batch)"; it is named in the message.
    """
    if not isinstance(err, TypeError) or reader_frame(err, fn) is not None:
        return None
    msg = str(err)
    for f in _roots(fn):
        for name in {f.__name__, f.__qualname__}:
            if msg.startswith(f"{name}()"):
                try:
                    have = f"{f.__name__}{inspect.signature(f)}"
                except (TypeError, ValueError):
                    have = f.__name__
                want = (f"; the statement writes it {call}" if call else
                        "; keep the parameters the answer cell gives it")
                return (f"your {have} cannot be called as the checker calls "
                        f"it ({first_line(err)}){want}. Change your `def` "
                        "line to match, then run this cell again.")
    return None


def fingerprint(fn: Any) -> tuple[tuple, list] | None:
    """(key, held): a key that changes whenever what `fn` computes may have
    changed (its code, defaults, closure values, and the objects bound to
    the global names it reads: a helper redefined in another cell counts),
    and the objects whose ids the key holds (keep them alive with the key,
    so no id is reused). None for an answer that is not a plain function
    (never cached)."""
    f = function_of(fn)
    if f is None or isinstance(fn, functools.partial):
        return None
    names = sorted({n for code in codes(f) for n in code.co_names})
    held = ([f.__defaults__, f.__kwdefaults__]
            + [c.cell_contents for c in (f.__closure__ or ())]
            + [f.__globals__.get(n) for n in names])
    return (f.__code__, tuple(id(x) for x in held)), held


def notebook_stubs() -> list[str]:
    """Names of the functions of the reader's notebook (``__main__``)
    that are still stubs: the helper a None answer most likely came
    from."""
    main = sys.modules.get("__main__")
    found = []
    for name, value in list(vars(main).items()) if main else ():
        f = function_of(value)
        if (f is not None and not name.startswith("_")
                and f.__module__ == "__main__" and is_stub(f)):
            found.append(name)
    return found


def none_message() -> str:
    """What a reader is told when their answer is None (not `...`)."""
    stubs = notebook_stubs()
    if stubs:
        names = ", ".join(f"`{n}`" for n in stubs)
        one = len(stubs) == 1
        return (f"your answer is None, and {names} "
                f"{'is' if one else 'are'} still the stub (a body of "
                f"`...` returns None): write {'its' if one else 'their'} "
                "body, run the answer cell again, then this cell.")
    return ("your answer is None: replace the `...` with your answer and "
            "run this cell again (if a function of yours computes it, "
            f"{RETURNED_NONE})")


# ---------------------------------------------------------------------------
# Running the reader's code: a time limit, and their prints captured
# ---------------------------------------------------------------------------
class TimedOut(Exception):
    """The reader's code ran past `TIME_LIMIT_S`."""


def timed_out_message(seconds: float | None = None) -> str:
    """What a reader is told when their code is stopped by the limit."""
    seconds = TIME_LIMIT_S if seconds is None else seconds
    return (f"your code was still running after {seconds:g} s (the limit "
            "for one check; a right answer takes well under a second), so "
            "the checker stopped it. Look for a loop whose condition never "
            "changes, a `while True` without a `break`, a `sleep`, or work "
            "that grows with the size of the input (a loop over every "
            "element where one array operation would do).")


_ACTIVE = threading.local()


@contextlib.contextmanager
def time_limit(seconds: float | None = None) -> Iterator[None]:
    """Raise `TimedOut` in the code run inside once `seconds` pass
    (default `TIME_LIMIT_S`).

    Uses SIGALRM, so it needs the main thread of a POSIX process (a
    Jupyter kernel runs cells there); elsewhere the code runs unlimited.
    Nested limits keep the outer one.
    """
    usable = (hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and not getattr(_ACTIVE, "on", False))
    if not usable:
        yield
        return

    seconds = TIME_LIMIT_S if seconds is None else seconds

    def stop(signum, frame):
        raise TimedOut(f"ran past {seconds:g} s")
    old = signal.signal(signal.SIGALRM, stop)
    _ACTIVE.on = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        _ACTIVE.on = False


class Printed:
    """What the reader's code printed during a check: the first few lines
    kept, the rest only counted (a print in a loop can write megabytes)."""

    def __init__(self, keep: int = PRINT_LINES, width: int = 160) -> None:
        self.keep, self.width = keep, width
        self.lines: list[str] = []
        self.count = 0
        self._open = ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        parts = (self._open + text).split("\n")
        self._open = parts.pop()
        for line in parts:
            self._line(line)
        if len(self._open) > 10 * self.width:  # no newline in sight
            self._line(self._open)
            self._open = ""
        return len(text)

    def _line(self, line: str) -> None:
        self.count += 1
        if len(self.lines) < self.keep:
            self.lines.append(line if len(line) <= self.width
                              else line[:self.width] + "...")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._open:
            self._line(self._open)
            self._open = ""

    def summary(self) -> str:
        """'' if nothing was printed, else the kept lines, indented."""
        self.close()
        if not self.count:
            return ""
        n = self.count
        head = (f"your code printed {n} line{'s' if n != 1 else ''}"
                + (f"; the first {len(self.lines)}:" if n > len(self.lines)
                   else ":"))
        return "\n".join([head] + [f"  | {ln}" for ln in self.lines])


@contextlib.contextmanager
def captured() -> Iterator[Printed]:
    """Send the reader's prints (stdout and stderr) to a `Printed`."""
    out = Printed()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        yield out


def with_printed(message: str, printed: Printed) -> str:
    """`message`, followed by what the reader's code printed (capped)."""
    shown = printed.summary()
    return f"{message}\n{shown}" if shown else message


# ---------------------------------------------------------------------------
# The kernel's set-up
# ---------------------------------------------------------------------------
BOOK_DEVICES = 8
"""The simulated CPU devices every notebook's set-up cell creates."""


def setup_problem() -> str | None:
    """A message when JAX runs with fewer devices than the set-up cell
    makes (a JAX operation ran before it), else None."""
    if "jax" not in sys.modules:
        return None
    try:
        from scalebook.devices import backend_started

        if not backend_started():
            return None
        import jax

        have = len(jax.devices())
    except Exception:  # noqa: BLE001 - no answer is no diagnosis
        return None
    if have >= BOOK_DEVICES:
        return None
    return (f"JAX is running with {have} device{'s' if have != 1 else ''}, "
            f"but this exercise needs the {BOOK_DEVICES} simulated devices "
            "of the notebook's set-up cell: a JAX operation ran before that "
            "cell, which fixes the device count. Restart the kernel and run "
            "the set-up cell first, then this cell again. (Your answer is "
            "not judged yet.)")
