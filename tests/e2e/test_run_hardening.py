"""Runner regressions (issue: data loss, hangs and rough edges, items 6 and 29)."""

import os
import signal

from conftest import run_sluice, state_query, summary_rows, wait_for, write_pipeline

DS = "2026-11-21"


def test_ctrl_c_after_every_task_succeeded_leaves_the_run_successful(tmp_path, background):
    """A Ctrl-C that comes when every task is done changes nothing, so the run says success
    and exits 0 (it used to say cancelled and exit 130 while every task was success)."""
    p = write_pipeline(tmp_path, """
        pipeline: lateint
        tasks:
          - id: a
            kind: sql
            into: marts.a
            sql: SELECT 1 AS one
        """)
    b = background("run", p, "--date", DS, cwd=tmp_path,
                   env={"SLUICE_FAULT": "stall:run.after_tasks:2"})
    wait_for(lambda: "stalled at run.after_tasks" in b.stderr(), 60, what="the fault point")
    os.kill(b.proc.pid, signal.SIGINT)
    assert b.wait(30) == 0, b.stdout() + b.stderr()
    out = b.stdout()
    assert summary_rows(out)["a"]["status"] == "success", out
    assert "run 1 success" in out, out
    assert state_query(tmp_path, "SELECT status FROM runs") == [{"status": "success"}]
