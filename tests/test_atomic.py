"""raycnn.atomic: the one way raycnn writes a file in place."""

from __future__ import annotations

import socket

import pytest

from raycnn.atomic import aside, written_whole


def test_a_file_appears_whole_and_an_error_leaves_the_previous_one_and_nothing_else(tmp_path):
    target = tmp_path / "deep" / "table.json"
    with written_whole(target, durable=True) as partial:
        assert partial.parent == target.parent and partial.name.startswith(".table.json.")
        partial.write_text("first")
        assert not target.exists()                      # nothing under the name until the write ended
    assert target.read_text() == "first"
    with pytest.raises(OSError):
        with written_whole(target) as partial:
            partial.write_text("half")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.json"]


def test_temporary_names_differ_per_write_and_name_the_host():
    names = {aside("/runs/x/trials.parquet").name for _ in range(50)}
    assert len(names) == 50 and all(socket.gethostname() in n and n.startswith(".") for n in names)
