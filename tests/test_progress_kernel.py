"""Progress survives a kernel restart: a real Jupyter kernel checks one
answer, is restarted (its memory gone), checks another, and sb.progress()
still shows the first pass, read back from the ledger in the notebook's
working directory."""
import os
import queue

from helpers import ROOT


def run(client, code: str) -> str:
    """Execute `code` in the kernel; its printed and displayed text."""
    msg_id = client.execute(code)
    out = []
    while True:
        try:
            msg = client.get_iopub_msg(timeout=120)
        except queue.Empty:
            raise AssertionError(f"no reply to {code!r}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            out.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def test_a_pass_is_still_shown_after_the_kernel_restarts(tmp_path):
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"), MPLBACKEND="Agg")
    env.pop("SCALEBOOK_PROGRESS", None)  # the default: the working folder
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path),
                                       env=env)
    try:
        setup = "import scalebook as sb\n"
        first = run(client, setup + "from scalebook import grading\n"
                    "sb.check('1.1', grading.question('1.1')._expected_value())")
        assert first.startswith("[PASS] Exercise 1.1")
        assert (tmp_path / "scalebook-progress.json").exists()

        manager.restart_kernel(now=True)
        client.wait_for_ready(timeout=120)
        assert "NameError" in run(client, "try:\n    grading\nexcept NameError:"
                                  "\n    print('NameError')"), "not restarted"
        second = run(client, setup + "sb.check('1.2', 1.0)")
        assert second.startswith("[NOT YET] Exercise 1.2")

        per_chapter = run(client, "print(dict(sb.progress(1).text_rows()))")
        rows = eval(per_chapter)
        assert rows["1.1"] == "PASS" and rows["1.2"] == "NOT YET"
        every = run(client, "print([r for r in sb.progress().records() "
                    "if r['chapter'] == 1])")
        n = len(__import__("scalebook").grading.chapter_questions(1))
        assert f"'passed': '1 of {n}'" in every and "'complete': 'no'" in every
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
