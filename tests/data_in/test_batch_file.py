"""Awkward batch files: each defect a review found is refused with its problems told in full, and the
harmless variants that worked before still work."""

import gzip
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data_in.validation import BatchRejected, read_batch_path
from samples import COLUMNS, FEATURE_COLUMNS


@pytest.fixture
def good_text(cancer) -> str:
    frame = pd.DataFrame(cancer.features, columns=list(FEATURE_COLUMNS)).assign(label=cancer.labels)
    return frame.to_csv(index=False)


def refused(path, labelled=True) -> list[str]:
    """The problems the refusal of ``path`` lists, after checking the line that heads them."""
    with pytest.raises(BatchRejected) as caught:
        read_batch_path(path, COLUMNS, 5, 0.2, labelled=labelled)
    header, *problems = str(caught.value).split("\n")
    assert header == f"Batch {path} rejected, {len(problems)} problem(s):"
    assert all(line.startswith("  - ") for line in problems)
    return [line[4:] for line in problems]


def put(tmp_path, text: str, name="batch.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def test_a_row_with_one_field_more_than_the_header_is_refused_naming_its_line(tmp_path, good_text):
    lines = good_text.splitlines()
    lines[5] = "7," + lines[5]  # what made pandas shift every feature by one column
    assert refused(put(tmp_path, "\n".join(lines) + "\n"), labelled=False) == [
        "1 row(s) do not have the header's 31 fields (first at line 6, 32 fields: "
        "'7,20.29,14.34,135.1,1297.0,0.1003,0.1328…'); every row needs one value per column"
    ]


def test_every_row_with_another_field_count_is_counted(tmp_path, good_text):
    lines = good_text.splitlines()
    lines[2] = lines[2] + ",1"
    lines[9] = lines[9].rsplit(",", 1)[0]
    assert refused(put(tmp_path, "\n".join(lines) + "\n")) == [
        "2 row(s) do not have the header's 31 fields (first at line 3, 32 fields: "
        "'20.57,17.77,132.9,1326.0,0.08474,0.07864…'); every row needs one value per column"
    ]


def test_the_same_column_twice_up_to_spaces_is_named(tmp_path, good_text):
    header, rest = good_text.split("\n", 1)
    twice = header.replace("mean_texture", "mean_radius ")
    assert refused(put(tmp_path, twice + "\n" + rest)) == [
        "columns 1 and 2 ('mean_radius' and 'mean_radius ') are the same column once case, spaces and "
        "punctuation are folded; keep one",
        "1 missing column(s): mean_texture",
    ]


def test_an_exact_duplicate_column_is_named_as_written(tmp_path, good_text):
    header, rest = good_text.split("\n", 1)
    assert refused(put(tmp_path, header.replace("mean_texture", "mean_radius") + "\n" + rest)) == [
        "columns 1 and 2 ('mean_radius' and 'mean_radius') are the same column once case, spaces and "
        "punctuation are folded; keep one",
        "1 missing column(s): mean_texture",
    ]


def test_a_huge_line_is_refused_without_echoing_it(tmp_path, good_text):
    header = good_text.split("\n", 1)[0]
    path = put(tmp_path, header + "\n" + "9" * 6_000_000 + "\n")
    assert refused(path) == ["a line is longer than 2,097,152 bytes: not a batch row"]


def test_a_huge_header_is_refused_without_echoing_it(tmp_path):
    assert refused(put(tmp_path, "x" * 200_000)) == [
        "the first line is longer than 65,536 bytes: not a CSV header"
    ]


def test_a_long_row_of_numbers_is_refused_quickly(tmp_path, good_text):
    header = good_text.split("\n", 1)[0]
    assert refused(put(tmp_path, header + "\n" + ",".join(["1.5"] * 200_000) + "\n")) == [
        "1 row(s) do not have the header's 31 fields (first at line 2, 200000 fields: "
        "'1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,1.5,…'); every row needs one value per column"
    ]


def test_a_folder_named_like_the_file_is_refused(tmp_path):
    (tmp_path / "batch.csv").mkdir()
    assert refused(tmp_path / "batch.csv") == ["batch.csv is a folder, not a file"]


def test_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "batch.csv")
    assert refused(tmp_path / "batch.csv") == ["batch.csv is not a regular file (a pipe, socket or device)"]


def test_a_link_is_not_followed_out_of_the_folder(tmp_path, good_text):
    outside = put(tmp_path, good_text, "elsewhere.csv")
    secret = put(tmp_path, "password=hunter2\n", "secret.txt")
    inside = tmp_path / "incoming"
    inside.mkdir()
    (inside / "good.csv").symlink_to(outside)
    (inside / "secret.csv").symlink_to(secret)
    for name in ("good", "secret"):
        assert refused(inside / f"{name}.csv") == [
            f"{name}.csv is a symbolic link: only regular files are read; copy the file in instead"
        ]


def test_missing_files_and_broken_links_are_told_apart_from_empty_files(tmp_path):
    assert refused(tmp_path / "nothing.csv") == [f"there is no file {tmp_path / 'nothing.csv'}"]
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    for name in ("dangling", "loop"):
        assert refused(tmp_path / f"{name}.csv") == [
            f"{name}.csv is a symbolic link that leads nowhere: only regular files are read; "
            "copy the file in instead"
        ]
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf")
    assert refused(tmp_path / "bom.csv") == ["the file is empty"]


def test_line_numbers_count_blank_lines(tmp_path, good_text):
    lines = good_text.splitlines()
    lines.insert(3, "")
    lines.insert(3, "")
    lines[8] = lines[8].replace(lines[8].split(",")[0], "abc", 1)
    assert refused(put(tmp_path, "\n".join(lines) + "\n")) == [
        "column 'mean_radius': 1 row(s) are not numbers (first at line 9: 'abc')"
    ]


def test_true_and_false_are_not_numbers_nor_labels(tmp_path, good_text):
    lines = good_text.splitlines()
    lines[1] = "true" + lines[1][lines[1].index(",") :]
    lines[2] = lines[2].rsplit(",", 1)[0] + ",false"
    assert refused(put(tmp_path, "\n".join(lines) + "\n")) == [
        "column 'mean_radius': 1 row(s) are not numbers (first at line 2: 'true')",
        "column 'label': 1 row(s) hold a value that is not a class (0, 1) (first at line 3: 'false')",
    ]


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
    assert refused(put(tmp_path, good_text.replace("mean_radius", "mean_radus", 1))) == [
        "1 missing column(s): mean_radius",
        "1 unexpected column(s): 'mean_radus' (did you mean 'mean_radius'?); only the 30 feature columns and "
        "label are allowed",
    ]


def test_a_gzipped_file_is_read(tmp_path, good_text, cancer):
    path = tmp_path / "batch.csv.gz"
    path.write_bytes(gzip.compress(good_text.encode()))
    np.testing.assert_array_equal(read_batch_path(path, COLUMNS, 5, 0.2).batch.features, cancer.features)


def test_text_in_another_encoding_below_the_header_is_named_by_line(tmp_path, good_text):
    lines = good_text.splitlines()
    path = tmp_path / "latin1.csv"
    path.write_bytes("\n".join([*lines[:4], "é," * 30 + "1", *lines[4:]]).encode("latin-1"))
    assert refused(path) == [
        "not UTF-8 text at line 5: byte 0xe9 at column 1 (text in another encoding); "
        "save the file as UTF-8 CSV"
    ]


def with_cell(text: str, line: int, column: int, value: str) -> str:
    """``text`` with the cell of ``line`` (0 is the header) and ``column`` replaced by ``value``."""
    lines = text.splitlines()
    cells = lines[line].split(",")
    cells[column] = value
    lines[line] = ",".join(cells)
    return "\n".join(lines) + "\n"


def only_labels(text: str, keep) -> str:
    header, *rows = text.splitlines()
    return "\n".join([header, *keep(rows)]) + "\n"


def with_line(text: str, number: int, change) -> str:
    """``text`` with its line ``number`` (from 1) changed by ``change``."""
    lines = text.split("\n")
    lines[number - 1] = change(lines[number - 1])
    return "\n".join(lines)


def flipped(data: bytes, position: int) -> bytes:
    """``data`` with the bits of one byte inverted."""
    changed = bytearray(data)
    changed[position] ^= 0xFF
    return bytes(changed)


REFUSALS = {
    "gzip of nothing": (
        "batch.csv.gz", lambda text: text.encode(),
        "not a readable gzip file: Not a gzipped file (b'me')",
    ),
    "truncated gzip": (
        "batch.csv.gz", lambda text: gzip.compress(text.encode())[:3000],
        "not a readable gzip file: Compressed file ended before the end-of-stream marker was reached",
    ),
    "line ends of a carriage return alone": (
        "batch.csv", lambda text: text.replace("\n", "\r"),
        "the lines end in a carriage return alone (CR, an old Mac format); save the file with LF or CRLF "
        "line ends",
    ),
    "blank lines before the header": (
        "batch.csv", lambda text: "\n \n" + text,
        "the file starts with 2 blank line(s) before its header: remove them, for the header to be line 1",
    ),
    "a number too large to standardise": (
        "batch.csv", lambda text: with_line(text, 4, lambda line: "1e308," + line.split(",", 1)[1]),
        "column 'mean_radius': 1 row(s) are beyond ±1e+100, too large to standardise "
        "(first at line 4: 1e+308)",
    ),
    "gzip cut short past the header's first block": (
        "batch.csv.gz", lambda text: gzip.compress((text + text.split("\n", 1)[1] * 40).encode())[:-40],
        "not a readable gzip file: Compressed file ended before the end-of-stream marker was reached",
    ),
    "gzip cut short, with text in a number column": (
        "batch.csv.gz", lambda text: gzip.compress((text * 40).encode())[:-40],
        "not a readable gzip file: Compressed file ended before the end-of-stream marker was reached",
    ),
    "gzip whose checksum fails": (
        "batch.csv.gz", lambda text: flipped(gzip.compress(text.encode()), -6),  # the CRC's third byte
        lambda text: "not a readable gzip file: CRC check failed "
        f"{hex(zlib.crc32(text.encode()) ^ 0xFF0000)} != {hex(zlib.crc32(text.encode()))}",
    ),
    "gzip whose stored length is wrong": (
        "batch.csv.gz", lambda text: flipped(gzip.compress(text.encode()), -1),
        "not a readable gzip file: Incorrect length of data produced",
    ),
    "gzip of a header and blank lines": (
        "batch.csv.gz", lambda text: gzip.compress(text.split("\n")[0].encode() + b"\n" * 20_000_000),
        "no data rows: the file has a header only",
    ),
    "a picture": (
        "batch.csv", lambda text: b"\x89PNG\r\n\x1a\n" + bytes(50),
        "not UTF-8 text: byte 0x89 at offset 0 (a binary file, or text in another encoding); "
        "save the file as UTF-8 CSV",
    ),
    "semicolons": (
        "batch.csv", lambda text: text.replace(",", ";"),
        "the columns are separated by semicolons; save the file with commas (,) instead",
    ),
    "header only": (
        "batch.csv", lambda text: text.split("\n", 1)[0] + "\n", "no data rows: the file has a header only",
    ),
    "an empty cell": (
        "batch.csv", lambda text: with_cell(with_cell(text, 3, 0, ""), 8, 0, "NaN"),
        "column 'mean_radius': 2 row(s) are empty or NaN (first at line 4)",
    ),
    "infinity": (
        "batch.csv", lambda text: with_cell(text, 4, 2, "-inf"),
        "column 'mean_perimeter': 1 row(s) are infinite (first at line 5: -inf)",
    ),
    "an empty label": (
        "batch.csv", lambda text: with_cell(text, 6, 30, ""),
        "column 'label': 1 row(s) are empty (first at line 7)",
    ),
    "one class": (
        "batch.csv", lambda text: only_labels(text, lambda rows: [r for r in rows if r.endswith(",1")]),
        "only one class: every label is 1; the model needs rows of at least two of 0, 1",
    ),
    "too few of a class": (
        "batch.csv",
        lambda text: only_labels(text, lambda rows: [r for r in rows if r.endswith(",1")] + [
            r for r in rows if r.endswith(",0")][:3]),
        "too few rows of class 0: 3; a 5-fold CV with a 0.2 test share needs at least 8 per class",
    ),
    "not Parquet": (
        "batch.parquet", lambda text: b"PAR1 and then no Parquet at all",
        "not a readable Parquet file: Parquet magic bytes not found in footer. "
        "Either the file is corrupted or this is not a parquet file.",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_each_kind_of_broken_file_is_told_in_full(tmp_path, good_text, case):
    name, content, problem = REFUSALS[case]
    data = content(good_text)
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    assert refused(path) == [problem(good_text) if callable(problem) else problem]


@pytest.mark.slow
def test_a_big_file_read_in_parallel_parts_gives_every_value_and_names_a_late_line(tmp_path, cancer):
    """Over 32 MiB, so that the reader cuts it into parts read side by side and scans it for lines in
    more than one block; long rows first, so that its estimate of the rows falls short."""
    rng = np.random.default_rng(3)
    rows = 160_000
    features = np.round(rng.normal(size=(rows, 30)), 6)
    features[:2000] = np.round(features[:2000] * 1e6, 6) + 0.123456789  # long numbers first
    labels = np.arange(rows) % 2
    header = ",".join([*FEATURE_COLUMNS, "label"])
    lines = [
        ",".join([*map(repr, row.tolist()), str(label)]) for row, label in zip(features, labels, strict=True)
    ]
    lines[100_000] += "\r"  # a CRLF line, then two blank lines, deep in the file
    lines.insert(100_001, "")
    lines.insert(100_001, "")
    path = put(tmp_path, "\n".join([header, *lines]))  # the last line has no line break
    checked = read_batch_path(path, COLUMNS, 5, 0.2)
    assert path.stat().st_size > 32 << 20
    np.testing.assert_array_equal(checked.batch.features, features)
    np.testing.assert_array_equal(checked.batch.labels, labels)
    # lines[k] is the file's line k + 2: the header is line 1, and the blank lines are in the list.
    lines[150_000] = lines[150_000].replace(lines[150_000].split(",")[4], "n/a", 1)
    lines[-1] = lines[-1].rsplit(",", 1)[0] + ",2"
    assert refused(put(tmp_path, "\n".join([header, *lines]))) == [
        "column 'mean_smoothness': 1 row(s) are not numbers (first at line 150002: 'n/a')",
        "column 'label': 1 row(s) hold a value that is not a class (0, 1) (first at line 160003: '2')",
    ]


@pytest.mark.skipif(not shutil.which("setpriv"), reason="util-linux's setpriv drops the right to read all")
def test_a_file_the_worker_may_not_read_is_refused_by_name(tmp_path, good_text):
    """As a compose worker runs: not as a user who may read every file. The reader runs without the
    capabilities that let root read a file whatever its mode."""
    path = put(tmp_path, good_text)
    path.chmod(0)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from samples import COLUMNS\n"
        "from ml_pipeline.data_in.validation import BatchRejected, read_batch_path\n"
        "try:\n    read_batch_path(Path(sys.argv[1]), COLUMNS, 5, 0.2)\n"
        "except BatchRejected as error:\n    print(error.problems)\n"
    )
    drop = "-dac_override,-dac_read_search"
    tests = Path(__file__).parents[1]
    told = subprocess.run(
        ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", sys.executable, "-c", script, str(path)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tests)},
    )  # fmt: skip
    assert told.stderr == ""
    assert told.stdout.strip() == str(
        [
            f"batch.csv cannot be read by the user the pipeline runs as (uid {os.getuid()}): permission "
            "denied; make it readable (chmod a+r) and send it again"
        ]
    )


@pytest.mark.slow
def test_quoted_cells_may_hold_line_breaks_in_a_file_of_any_size(tmp_path):
    """Cells in quotes may span lines, as CSV allows: the file is then read as a whole, never cut or
    parsed a line at a time."""
    from ml_pipeline.data_in.table_check import Columns

    rows = 300_000
    text = "a,b,y\n" + "".join(f'{row},"{row % 7}\n",{row % 2}\n' for row in range(rows))
    checked = read_batch_path(put(tmp_path, text), Columns(("a", "b"), "y", (0, 1)), 5, 0.2)
    np.testing.assert_array_equal(checked.batch.features[:, 0], np.arange(rows))
    np.testing.assert_array_equal(checked.batch.features[:, 1], np.arange(rows) % 7)
    np.testing.assert_array_equal(checked.batch.labels, np.arange(rows) % 2)


def test_every_repeated_row_is_noted_whole_numbers_and_signed_zeros_too(tmp_path):
    from ml_pipeline.data_in.table_check import Columns

    columns = Columns(("a", "b"), "y", (0, 1))
    rows = [f"{row},{row},{row % 2}" for row in range(8)] + ["0,0,0", "9,9,1", "-0,0.0,0"]
    checked = read_batch_path(put(tmp_path, "a,b,y\n" + "\n".join(rows) + "\n"), columns, 2, 0.5)
    assert checked.notes == ["2 duplicated row(s), kept (the first at line 10)"]


def test_a_gzip_of_random_bytes_and_an_upper_case_suffix_are_named_for_what_they_are(tmp_path, good_text):
    path = tmp_path / "batch.csv.gz"
    path.write_bytes(gzip.compress(bytes(range(13, 256)) * 4))  # a carriage return, then binary
    assert refused(path) == [
        "not UTF-8 text: byte 0x80 at offset 115 (a binary file, or text in another encoding); save the "
        "file as UTF-8 CSV"
    ]
    upper = tmp_path / "BATCH.CSV.GZ"
    upper.write_bytes(gzip.compress(good_text.encode()))
    assert len(read_batch_path(upper, COLUMNS, 5, 0.2).batch) == good_text.count("\n") - 1


def test_a_problem_after_quoted_line_breaks_is_placed_at_its_own_line(tmp_path):
    from ml_pipeline.data_in.table_check import Columns

    rows = "".join(f'{row},"{row % 7}\n",{row % 2}\n' for row in range(10))  # each record on two lines
    path = put(tmp_path, "a,b,y\n" + rows + "\nx,1,0\n")
    with pytest.raises(BatchRejected) as refused:
        read_batch_path(path, Columns(("a", "b"), "y", (0, 1)), 2, 0.5)
    assert refused.value.problems == ["column 'a': 1 row(s) are not numbers (first at line 23: 'x')"]
