"""Kills at the publish steps the first crash suite could not reach (issue: data loss, hangs
and rough edges, item 27): between the rename that makes a partition visible and the journal
step that records it, and inside csv_import's second (data) publish, after its rejects are
published. Recovery must finish or roll back each, never mix."""

import pytest

from test_crash_recovery import (NEW_BAD, NEW_ROWS, OLD_BAD, OLD_ROWS,
                                 assert_crash_left_work_behind, assert_recovered, csv_bytes,
                                 csv_pipeline, killed_run_id, reject_lines, run_killed,
                                 sql_pipeline)
from conftest import (assert_manifest_matches_files, assert_no_leftovers, read_rows, run_sluice,
                      state_query)

DS = "2026-11-21"


def test_sql_task_killed_between_rename_and_journal_step(tmp_path):
    """The new partition is in place but the journal still says moved_aside: recovery must see
    by the manifest's attempt that the rename happened, and keep the new partition."""
    lake = tmp_path / "lake"
    pipeline = sql_pipeline(tmp_path)
    (tmp_path / "input.csv").write_bytes(csv_bytes(OLD_ROWS))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    (tmp_path / "input.csv").write_bytes(csv_bytes(NEW_ROWS))
    run_killed(tmp_path, pipeline, "publish.before_renamed_step")
    assert_crash_left_work_behind(lake, "publish.before_renamed_step")
    (journal,) = state_query(tmp_path, "SELECT step FROM publish_journal")
    assert journal["step"] == "moved_aside", "the kill must land before the journal hears"
    run_id = killed_run_id(tmp_path)
    r = run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert "1 finished, 0 rolled back" in r.stderr, r.stderr
    assert read_rows(lake, "staging.items", DS, order_by="id") == NEW_ROWS
    assert_manifest_matches_files(lake, "staging.items", DS)
    assert_recovered(tmp_path, run_id)


# (fault point, whether the rows partition is the new one after recovery)
SECOND_PUBLISH = [("csv.between_publishes", False), ("publish.before_journal#2", False),
                  ("publish.after_journal#2", False), ("publish.after_move_aside#2", False),
                  ("publish.before_renamed_step#2", True), ("publish.after_rename#2", True)]


@pytest.mark.parametrize("point,new_rows", SECOND_PUBLISH)
def test_csv_import_killed_in_its_data_publish(tmp_path, point, new_rows):
    """The rejects are published (new), the rows publish is interrupted: after recovery the
    rows are the complete old or the complete new partition, and a re-run gives the new."""
    lake = tmp_path / "lake"
    pipeline = csv_pipeline(tmp_path)
    (tmp_path / "input.csv").write_bytes(csv_bytes(OLD_ROWS, OLD_BAD))
    run_sluice("run", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    (tmp_path / "input.csv").write_bytes(csv_bytes(NEW_ROWS, NEW_BAD))
    run_killed(tmp_path, pipeline, point)
    run_id = killed_run_id(tmp_path)
    run_sluice("status", pipeline, "--date", DS, cwd=tmp_path, expect=0)
    assert reject_lines(lake) == [9, 10], "the rejects were published before the kill"
    assert read_rows(lake, "raw.items", DS, order_by="id") == (NEW_ROWS if new_rows else OLD_ROWS)
    for d in ("raw.items", "rejects.raw_items"):
        assert_manifest_matches_files(lake, d, DS)
    assert_recovered(tmp_path, run_id)
    run_sluice("run", pipeline, "--date", DS, "--force", cwd=tmp_path, expect=0)
    assert read_rows(lake, "raw.items", DS, order_by="id") == NEW_ROWS
    assert_no_leftovers(lake)
