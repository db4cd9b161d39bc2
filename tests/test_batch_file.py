"""Awkward batch files: each defect a review found is refused with its problem named (and fast), and
the harmless variants that worked before still work."""

import gzip
import os

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.validation import BatchRejected, read_batch_path
from samples import COLUMNS, FEATURE_COLUMNS


@pytest.fixture
def good_text(cancer) -> str:
    frame = pd.DataFrame(cancer.features, columns=list(FEATURE_COLUMNS)).assign(label=cancer.labels)
    return frame.to_csv(index=False)


def refused(path, labelled=True) -> str:
    with pytest.raises(BatchRejected) as caught:
        read_batch_path(path, COLUMNS, 5, 0.2, labelled=labelled)
    return str(caught.value)


def put(tmp_path, text: str, name="batch.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_a_row_with_one_field_more_than_the_header_is_refused_naming_its_line(tmp_path, good_text):
    lines = good_text.splitlines()
    lines[5] = "7," + lines[5]  # what made pandas shift every feature by one column
    message = refused(put(tmp_path, "\n".join(lines) + "\n"), labelled=False)
    assert "1 row(s) do not have the header's 31 fields (first at line 6, 32 fields" in message


def test_every_row_with_another_field_count_is_counted(tmp_path, good_text):
    lines = good_text.splitlines()
    lines[2] = lines[2] + ",1"
    lines[9] = lines[9].rsplit(",", 1)[0]
    assert "2 row(s) do not have the header's 31 fields (first at line 3" in refused(
        put(tmp_path, "\n".join(lines) + "\n")
    )


def test_the_same_column_twice_up_to_spaces_is_named(tmp_path, good_text):
    header, rest = good_text.split("\n", 1)
    twice = header.replace("mean_texture", "mean_radius ")
    message = refused(put(tmp_path, twice + "\n" + rest))
    assert "columns 1 and 2 ('mean_radius' and 'mean_radius ') are the same column" in message
    assert "mean_radius.1" not in message


def test_an_exact_duplicate_column_is_named_as_written(tmp_path, good_text):
    header, rest = good_text.split("\n", 1)
    message = refused(put(tmp_path, header.replace("mean_texture", "mean_radius") + "\n" + rest))
    assert "columns 1 and 2 ('mean_radius' and 'mean_radius')" in message and ".1" not in message


def test_a_huge_line_is_refused_without_echoing_it(tmp_path, good_text):
    header = good_text.split("\n", 1)[0]
    path = put(tmp_path, header + "\n" + "9" * 6_000_000 + "\n")
    message = refused(path)
    assert "a line is longer than 2,097,152 bytes: not a batch row" in message and len(message) < 1000


def test_a_huge_header_is_refused_without_echoing_it(tmp_path):
    message = refused(put(tmp_path, "x" * 200_000))
    assert "the first line is longer than 65,536 bytes" in message and len(message) < 1000


def test_a_long_row_of_numbers_is_refused_quickly(tmp_path, good_text):
    header = good_text.split("\n", 1)[0]
    message = refused(put(tmp_path, header + "\n" + ",".join(["1.5"] * 200_000) + "\n"))
    assert "do not have the header's 31 fields" in message and len(message) < 1000


def test_a_folder_named_like_the_file_is_refused(tmp_path):
    (tmp_path / "batch.csv").mkdir()
    assert "batch.csv is a folder, not a file" in refused(tmp_path / "batch.csv")


def test_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "batch.csv")
    assert "not a regular file (a pipe, socket or device)" in refused(tmp_path / "batch.csv")


def test_a_link_is_not_followed_out_of_the_folder(tmp_path, good_text):
    outside = put(tmp_path, good_text, "elsewhere.csv")
    secret = put(tmp_path, "password=hunter2\n", "secret.txt")
    inside = tmp_path / "incoming"
    inside.mkdir()
    (inside / "good.csv").symlink_to(outside)
    (inside / "secret.csv").symlink_to(secret)
    assert "good.csv is a symbolic link: only regular files are read" in refused(inside / "good.csv")
    assert "hunter2" not in refused(inside / "secret.csv")


def test_missing_files_and_broken_links_are_told_apart_from_empty_files(tmp_path):
    assert "there is no file" in refused(tmp_path / "nothing.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    assert "a symbolic link that leads nowhere" in refused(tmp_path / "dangling.csv")
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    assert "a symbolic link that leads nowhere" in refused(tmp_path / "loop.csv")
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf")
    assert "the file is empty" in refused(tmp_path / "bom.csv")


def test_line_numbers_count_blank_lines(tmp_path, good_text):
    lines = good_text.splitlines()
    lines.insert(3, "")
    lines.insert(3, "")
    lines[8] = lines[8].replace(lines[8].split(",")[0], "abc", 1)
    assert "column 'mean_radius': 1 row(s) are not numbers (first at line 9: 'abc')" in refused(
        put(tmp_path, "\n".join(lines) + "\n")
    )


def test_true_and_false_are_not_numbers_nor_labels(tmp_path, good_text):
    lines = good_text.splitlines()
    lines[1] = "true" + lines[1][lines[1].index(",") :]
    lines[2] = lines[2].rsplit(",", 1)[0] + ",false"
    message = refused(put(tmp_path, "\n".join(lines) + "\n"))
    assert "column 'mean_radius': 1 row(s) are not numbers (first at line 2: 'true')" in message
    assert (
        "column 'label': 1 row(s) hold a value that is not a class (0, 1) (first at line 3: 'false')"
        in message
    )


def test_harmless_variants_are_read_as_before(tmp_path, good_text, cancer):
    header, rest = good_text.split("\n", 1)
    spelled = ",".join(name.replace("_", " ").title() for name in header.split(","))  # Mean Radius
    rows = [  # quoted numbers on some rows, spaces around the values on others
        '"' + line.replace(",", '",', 1) if index % 7 == 0 else line.replace(",", " , ", 2)
        for index, line in enumerate(rest.splitlines())
    ]
    rows = [line.rsplit(",", 1)[0] + "," + line.rsplit(",", 1)[1] + ".0" for line in rows]  # labels 1.0
    path = tmp_path / "batch.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (spelled + "\r\n" + "\r\n".join(rows) + "\r\n").encode())
    checked = read_batch_path(path, COLUMNS, 5, 0.2)
    np.testing.assert_array_equal(checked.batch.features, cancer.features)
    np.testing.assert_array_equal(checked.batch.labels, cancer.labels)


def test_a_near_miss_header_is_named_with_a_suggestion(tmp_path, good_text):
    message = refused(put(tmp_path, good_text.replace("mean_radius", "mean_radus", 1)))
    assert "'mean_radus' (did you mean 'mean_radius'?)" in message


def test_a_gzipped_file_is_read(tmp_path, good_text, cancer):
    path = tmp_path / "batch.csv.gz"
    path.write_bytes(gzip.compress(good_text.encode()))
    np.testing.assert_array_equal(read_batch_path(path, COLUMNS, 5, 0.2).batch.features, cancer.features)


def test_text_in_another_encoding_below_the_header_is_named_by_line(tmp_path, good_text):
    lines = good_text.splitlines()
    path = tmp_path / "latin1.csv"
    path.write_bytes("\n".join([*lines[:4], "é," * 30 + "1", *lines[4:]]).encode("latin-1"))
    message = refused(path)
    assert "not UTF-8 text at line 5: byte 0xe9 at column 1" in message
