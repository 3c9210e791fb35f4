"""measure_scores.py's file-loading rules, on small files written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.suites.e2e import load_e2e, load_hypotheses, load_references


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_plain_outputs_are_stripped_lines(tmp_path: Path) -> None:
    hyps, mrs = load_hypotheses(write(tmp_path / "hyp.txt", "\ufeff  one \ntwo\t\n\n"))
    assert (hyps, mrs) == (["one", "two", ""], None)  # an empty line is an (empty) output


def test_refs_txt_groups_and_single_reference_files(tmp_path: Path) -> None:
    assert load_references(write(tmp_path / "refs.txt", "a1\na2\n\nb1\n\n")) == [["a1", "a2"], ["b1"]]
    assert load_references(write(tmp_path / "single.txt", "a\nb\n")) == [["a"], ["b"]]
    with pytest.raises(ValueError, match="empty reference groups"):
        load_references(write(tmp_path / "bad.txt", "a\n\n\nb\n\nc\n"))


def test_challenge_tsv_with_crcrlf_quotes_and_mojibake(tmp_path: Path) -> None:
    tsv = write(tmp_path / "sys.tsv", 'MR\toutput\r\r\n"name[X], food[Ã©]"\t"X costs Â£20."\r\r\n'
                                      '"name[Y]"\tY is Ł30 café.\r\r\n')
    hyps, mrs = load_hypotheses(tsv)
    assert hyps == ["X costs £20.", "Y is £30 café."]
    assert mrs == ["name[X], food[é]", "name[Y]"]


def test_testset_csv_groups_by_mr_in_first_appearance_order(tmp_path: Path) -> None:
    csv = write(tmp_path / "testset_w_refs.csv", '"mr","ref"\n"name[B]","b1"\n"name[A]","a1"\n'
                                                 '"name[B]","\'B\' is, so, good."\n')
    assert load_references(csv) == [["b1", "'B' is, so, good."], ["a1"]]  # CSV quoting; ' kept


def test_system_mrs_order_the_references(tmp_path: Path) -> None:
    csv = write(tmp_path / "refs.csv", 'mr,ref\nname[A],a1\nname[B],b1\nname[A],a2\n')
    tsv = write(tmp_path / "sys.tsv", "MR\toutput\n'name[B]'\tB!\nname[A]\tA!\n")  # TNT quotes its MRs
    assert load_e2e(tsv, csv) == (["B!", "A!"], [["b1"], ["a1", "a2"]])


def test_count_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    refs = write(tmp_path / "refs.txt", "a\n\nb\n\nc\n")
    hyp = write(tmp_path / "hyp.txt", "x\ny\n")
    with pytest.raises(ValueError, match=r"hyp\.txt has 2 outputs but .*refs\.txt has 3 reference groups"):
        load_e2e(hyp, refs)


def test_unknown_mr_and_ragged_rows_are_errors(tmp_path: Path) -> None:
    csv = write(tmp_path / "refs.csv", "mr,ref\nname[A],a1\n")
    with pytest.raises(ValueError, match="no references for the MRs of system lines \\[1\\]"):
        load_e2e(write(tmp_path / "sys.tsv", "MR\toutput\nname[Z]\tz\n"), csv)
    with pytest.raises(ValueError, match="columns"):
        load_hypotheses(write(tmp_path / "ragged.tsv", "MR\toutput\nname[A]\ta\textra\nname[B]\tb\n"))
