"""The frame on small hand-made returns whose right answers are worked out by hand."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from review_lib.errors import InputProblems
from review_lib.frame import run_frame

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "ssda903-samples"
HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n"
EPISODES = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"


def write_return(folder: Path, header_rows: list[str], episode_rows: list[str]) -> Path:
    target = folder / "hartlepool"
    target.mkdir(parents=True, exist_ok=True)
    (target / "header.csv").write_text(HEADER + "\n".join(header_rows) + "\n")
    (target / "episodes.csv").write_text(EPISODES + "\n".join(episode_rows) + "\n")
    return folder


GOOD_HEADER = ["1,1,15/06/2005,WBRI,,,", "2,2,01/01/2010,WBRI,,,", "3,1,01/01/2008,WBRI,,,",
               "4,2,01/01/2006,WBRI,,,", "5,1,20/03/2004,WBRI,,,"]
GOOD_EPISODES = [
    # child 1: foster (U6) in County Durham from 14/06/2018, the day before the 13th birthday -> age 12
    "1,14/06/2018,S,C2,N1,U6,PR4,01/02/2019,X1,CARPL,TS24 8AA,DL14 6AB,",
    # ... then a move back to Hartlepool: counts as one move within 12 months
    "1,01/02/2019,P,C2,N1,U6,PR1,,,,TS24 8AA,TS24 8AA,",
    # child 2: family and friends foster care out of area -> excluded (familial)
    "2,01/03/2018,S,C2,N1,U3,PR4,,,,TS24 8AA,DL14 6AB,",
    # child 3: foster inside Hartlepool -> excluded (inside the authority)
    "3,01/03/2018,S,C2,N1,U4,PR1,,,,TS24 8AA,TS24 8AA,",
    # child 4: children's home in Darlington but before the window -> excluded
    "4,01/03/2016,S,C2,N1,K2,PR4,,,,TS24 8AA,DL1 1AA,",
    # child 5: children's home in York (distant): eligible; legal-status change (RNE L) continues it
    "5,10/05/2017,S,V2,N5,K2,PR4,01/09/2017,X1,,TS24 8AA,YO1 7HH,SC1",
    "5,01/09/2017,L,C2,N5,K2,PR4,,,,TS24 8AA,YO1 7HH,SC1",
]


def test_eligibility_geography_and_indicators(tmp_path, config):
    result = run_frame([write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)], config)
    frame = result.frame.set_index("child_id")
    assert list(frame.index) == ["1", "5"]
    one, five = frame.loc["1"], frame.loc["5"]
    assert one["age_at_placement"] == 12 and one["age_group"] == "10 to 15"
    assert one["host_authority"] == "County Durham" and one["location_category"] == "Adjoining authority"
    assert one["moves_12_months"] == 1 and one["placement_type"] == "Foster care"
    assert five["host_authority"] == "York" and five["distant_placement"] == "Yes"
    assert five["age_at_placement"] == 13 and five["placement_type"] == "Residential care"
    assert pd.isna(five["placement_end"])  # the L episode continues the placement
    reasons = result.excluded.set_index("CHILD")["reason"]
    assert reasons["2"].startswith("placement type out of scope: Family and friends")
    assert reasons["3"] == "placement inside the authority"
    assert reasons["4"].startswith("placement started outside the review window")
    funnel = result.funnel.set_index("step")["children"]
    assert funnel.iloc[0] == 5 and funnel.iloc[-1] == 2


@pytest.mark.parametrize("header_rows, episode_rows, message", [
    (GOOD_HEADER, ["1,31/02/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB,"], "line 2, column DECOM"),
    (GOOD_HEADER, ["1,01/03/2018,S,C2,N1,U6,PR4,01/02/2018,X1,,TS24 8AA,DL14 6AB,"], "line 2: the episode ends (DEC 01/02/2018) before it starts (DECOM 01/03/2018)"),
    (GOOD_HEADER, ["9,01/03/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB,"], "in Episodes but not in Header"),
    (GOOD_HEADER, ["1,01/03/2018,S,C2,N1,Q9,PR4,,,,TS24 8AA,DL14 6AB,"], "'Q9' is not a placement code"),
    (GOOD_HEADER + ["1,1,16/06/2005,WBRI,,,"], ["1,01/03/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB,"],
     "conflicting dates of birth"),
    (GOOD_HEADER, ["1,01/03/2018,S,C2,N1,U6,PR4,01/06/2018,X1,,TS24 8AA,DL14 6AB,",
                   "1,01/05/2018,P,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB,"],
     "line 2, CHILD 1: this episode (DECOM 01/03/2018, DEC 01/06/2018) overlaps the child's next one "
     "(line 3, DECOM 01/05/2018)"),
    (GOOD_HEADER, ["1,01/03/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6A,"], "line 2, column PL_POST: 'DL14 6A' is not a postcode"),
    (GOOD_HEADER, [",01/03/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB,"], "line 2, column CHILD: the CHILD id is blank"),
    # rows of nothing but commas: read as records, then dropped as blank, leaving none
    (GOOD_HEADER, [",,,,,,,,,,,,", ",,,,,,,,,,,,"], "episodes.csv: has a header row but no records (its rows are all blank)"),
    ([",,,,,,"], ["1,01/03/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB,"], "header.csv: has a header row but no records"),
])
def test_bad_returns_are_refused_with_located_messages(tmp_path, config, header_rows, episode_rows, message):
    with pytest.raises(InputProblems) as caught:
        run_frame([write_return(tmp_path, header_rows, episode_rows)], config)
    assert message in str(caught.value)


def test_harmless_oddities_are_accepted(tmp_path, config):
    episodes = [row.replace("U6", "u6").replace("TS24 8AA", " ts248aa ") for row in GOOD_EPISODES]
    episodes.insert(2, ",,,,,,,,,, ,\t,")   # a row of empty cells, two postcodes only blank space: skipped
    folder = write_return(tmp_path, GOOD_HEADER, episodes)
    path = folder / "hartlepool" / "episodes.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    (folder / "hartlepool" / "~$episodes.xlsx").write_bytes(b"lock")
    result = run_frame([folder], config)
    assert len(result.frame) == 2
    assert any("lock files skipped" in note for note in result.notes)
    assert any("PLACE codes in lower case" in note for note in result.notes)
    header = folder / "hartlepool" / "header.csv"    # Excel on Windows: cp1252, not UTF-8
    header.write_bytes(header.read_bytes().replace(b"WBRI,,,\n", "WBRI,,Ren\u00e9e,\n".encode("cp1252"), 1))
    assert len(run_frame([folder], config).frame) == 2
    # a row holding nothing but a postcode is not blank: it has lost its child
    path.write_bytes(path.read_bytes() + b",,,,,,,,,,,TS24 8AA,\r\n")
    with pytest.raises(InputProblems, match="the CHILD id is blank"):
        run_frame([folder], config)


@pytest.mark.parametrize("blank_lines", [False, True])
def test_a_value_running_over_several_lines_keeps_later_rows_on_their_own_lines(tmp_path, config, blank_lines):
    # REASON_PLACE_CHANGE written over four lines (2 to 5), as a free-text export can
    episodes = [GOOD_EPISODES[0].replace("CARPL", '"moved:\nnearer\nto\nschool"')] + GOOD_EPISODES[1:]
    episodes[3] = episodes[3].replace(",U4,", ",XX,")   # the fourth record
    if blank_lines:
        episodes.insert(1, "")
    folder = write_return(tmp_path, GOOD_HEADER, episodes)
    text = (folder / "hartlepool" / "episodes.csv").read_text().splitlines()
    line = next(number for number, row in enumerate(text, start=1) if ",XX," in row)
    assert line == (9 if blank_lines else 8)   # worked out by hand: 1 header + 4 + 2 rows (+ 1 blank line)
    with pytest.raises(InputProblems) as caught:
        run_frame([folder], config)
    assert f"line {line}, column PLACE: 'XX' is not a placement code" in str(caught.value)
    # a record of the wrong length after the long value is named by its own line too
    (folder / "hartlepool" / "episodes.csv").write_text("\n".join([EPISODES.strip()] + episodes[:3] + ["1,2,3"]) + "\n")
    short = 8   # 1 header + 4 + 1 + 1, or 1 + 4 + the blank line + 1
    assert (folder / "hartlepool" / "episodes.csv").read_text().splitlines()[short - 1] == "1,2,3"
    with pytest.raises(InputProblems) as caught:
        run_frame([folder], config)
    assert f"line {short}: has 3 values" in str(caught.value)


def test_reviews_and_missing_episodes_are_counted_for_the_placement(tmp_path, config):
    folder = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    # child 5's placement began 10/05/2017: reviews on 01/06/2017 and 10/05/2018 fall within 12 months,
    # 11/05/2018 does not; child 1 (placed 14/06/2018) had none
    (folder / "hartlepool" / "reviews.csv").write_text(
        "CHILD,DOB,REVIEW,REVIEW_CODE\n5,20/03/2004,01/06/2017,PN1\n5,20/03/2004,10/05/2018,PN1\n"
        "5,20/03/2004,11/05/2018,PN0\n")
    # missing from 01/09/2017 counts (the L episode continues the placement); 01/05/2017 is before it
    (folder / "hartlepool" / "missing.csv").write_text(
        "CHILD,DOB,MISSING,MIS_START,MIS_END\n5,20/03/2004,M,01/09/2017,02/09/2017\n5,20/03/2004,M,01/05/2017,01/05/2017\n")
    frame = run_frame([folder], config).frame.set_index("child_id")
    assert list(frame["reviews_12_months"]) == [0, 2]
    assert list(frame["missing_episodes"]) == [0, 1]


@pytest.fixture(params=["every row", "each distinct date once"])
def date_reading(request, monkeypatch):
    """Both ways of reading a date column (a large one is read per distinct value) must agree."""
    from review_lib import frame as frame_module

    if request.param == "each distinct date once":
        monkeypatch.setattr(frame_module, "EACH_DATE_ONCE_FROM", 0)


def test_unusual_dates_are_read_with_a_note(tmp_path, config, date_reading):
    episodes = [GOOD_EPISODES[0].replace("14/06/2018", "2018-06-14"), GOOD_EPISODES[1].replace("01/02/2019,P", "01/02/2019 00:00,P")]
    result = run_frame([write_return(tmp_path, GOOD_HEADER, episodes + GOOD_EPISODES[2:])], config)
    assert list(result.frame["child_id"]) == ["1", "5"]
    assert str(result.frame.loc[0, "placement_start"]) == "2018-06-14"
    assert any("YYYY-MM-DD" in note for note in result.notes)


@pytest.mark.parametrize("written, accepted, message", [
    ("2018-06-14T09:30:00", True, None),
    ("2018-06-14 09:30", True, None),
    ("2018-06-14x", False, "'2018-06-14x' is not written as a date this tool reads"),
    ("2018-06-1400", False, "'2018-06-1400' is not written as a date this tool reads"),
    ("14-06-2018", False, "'14-06-2018' is not written as a date this tool reads"),
    ("43265", False, "'43265' is not written as a date this tool reads"),
    ("2018-06-31", False, "'2018-06-31' is not a real date"),
    ("31/06/2018", False, "'31/06/2018' is not a real date"),
])
def test_only_a_whole_date_is_read(tmp_path, config, date_reading, written, accepted, message):
    episodes = [GOOD_EPISODES[0].replace("14/06/2018", written)] + GOOD_EPISODES[1:]
    folder = write_return(tmp_path, GOOD_HEADER, episodes)
    if accepted:
        assert str(run_frame([folder], config).frame.loc[0, "placement_start"]) == "2018-06-14"
        return
    with pytest.raises(InputProblems) as caught:
        run_frame([folder], config)
    assert f"line 2, column DECOM: {message}" in str(caught.value)


def test_many_problems_are_listed_with_a_count_of_the_rest(tmp_path, config):
    episodes = [f"1,{day:02d}/13/2018,S,C2,N1,U6,PR4,,,,TS24 8AA,DL14 6AB," for day in range(1, 29)]
    with pytest.raises(InputProblems) as caught:
        run_frame([write_return(tmp_path, GOOD_HEADER, episodes)], config)
    text = str(caught.value)
    assert "line 21, column DECOM: '20/13/2018' is not a real date" in text and "line 22," not in text
    assert "8 more rows with the same problem" in text


def test_missing_column_and_not_csv(tmp_path, config):
    folder = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    path = folder / "hartlepool" / "episodes.csv"
    path.write_text(path.read_text().replace(",DEC,", ",DEX,"))
    with pytest.raises(InputProblems, match="column DEC is missing"):
        run_frame([folder], config)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputProblems, match="Excel workbook, not a CSV"):
        run_frame([folder], config)
    for blank in ("", " \r\n\t\n"):                     # nothing, or only spaces and line ends
        path.write_text(blank)
        with pytest.raises(InputProblems, match="the file is empty"):
            run_frame([folder], config)


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/ssda903-samples is not beside the project")
@pytest.mark.parametrize("folder", sorted(p.name for p in (SAMPLES / "liia-tools").iterdir()) if SAMPLES.exists() else [])
def test_public_real_format_samples_are_read_or_refused_clearly(folder, config):
    # these dirty returns must never crash: either a frame or located problems
    try:
        run_frame([SAMPLES / "liia-tools" / folder], config, authority="Hartlepool")
    except InputProblems as exc:
        assert exc.problems and all(p.file for p in exc.problems)


def test_case_register_in_csv_and_xlsx_gives_the_same_frame(tmp_path, config):
    from openpyxl import Workbook

    rows = [["child_id", "authority", "sex", "date_of_birth", "placement_start", "placement_end", "placement_code",
             "legal_status", "category_of_need", "home_postcode", "placement_postcode"],
            ["H1", "Hartlepool", "1", "15/06/2005", "14/06/2018", "01/02/2019", "U6", "C2", "N1", "TS24 8AA", "DL14 6AB"],
            ["H1", "Hartlepool", "1", "15/06/2005", "01/02/2019", "", "U6", "C2", "N1", "TS24 8AA", "TS24 8AA"],
            ["S7", "E06000004", "2", "01/01/2008", "10/05/2017", "", "k2", "C2", "N5", "TS18 1", "YO1 7HH"]]
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "case_register.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    (tmp_path / "xlsx").mkdir()
    wb.save(tmp_path / "xlsx" / "register.xlsx")
    from_csv = run_frame([tmp_path / "csv"], config).frame
    from_xlsx = run_frame([tmp_path / "xlsx"], config).frame
    assert list(from_csv["child_id"]) == ["H1", "S7"] and from_csv.equals(from_xlsx)
    assert list(from_csv["host_authority"]) == ["County Durham", "York"]
    rows[1][1] = "Durham"
    (tmp_path / "csv" / "case_register.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(InputProblems, match="line 2, column authority: 'Durham' is not one of"):
        run_frame([tmp_path / "csv"], config)


REGISTER_HEAD = "child_id,authority,sex,date_of_birth,placement_start,placement_end,placement_code,legal_status," \
    "category_of_need,home_postcode,placement_postcode"


@pytest.mark.parametrize("rows, before, twelve_months", [
    # written in the order they happened, though '01/02/2019' sorts before '14/06/2018' as text:
    # in care since 14/06/2018, 232 days before the move to Consett on 01/02/2019
    (["H1,Hartlepool,1,15/06/2005,14/06/2018,01/02/2019,U6,C2,N1,TS24 8AA,TS25 5JX",
      "H1,Hartlepool,1,15/06/2005,01/02/2019,01/08/2019,U6,C2,N1,TS24 8AA,DH8 7BQ"], 232, "Yes"),
    # the same, listed the other way round, in two-digit years and with a midnight time (forms the frame reads)
    (["H1,Hartlepool,1,15/06/2005,01/02/2019 00:00,01/08/2019,U6,C2,N1,TS24 8AA,DH8 7BQ",
      "H1,Hartlepool,1,15/06/2005,14/06/18,01/02/19,U6,C2,N1,TS24 8AA,TS25 5JX"], 232, "Yes"),
    # a gap (left care on 01/10/2018, back on 01/02/2019) starts a new period of care, where the
    # text and the dates agree on the order: without the gap it would be 245 days since 01/06/2018
    (["H1,Hartlepool,1,15/06/2005,01/06/2018,01/10/2018,U6,C2,N1,TS24 8AA,TS25 5JX",
      "H1,Hartlepool,1,15/06/2005,01/02/2019,01/08/2019,U6,C2,N1,TS24 8AA,DH8 7BQ"], 0, "No"),
])
def test_a_register_puts_placements_in_date_order_as_a_return_would(tmp_path, config, rows, before, twelve_months):
    (tmp_path / "case_register.csv").write_text("\n".join([REGISTER_HEAD] + rows) + "\n")
    child = run_frame([tmp_path / "case_register.csv"], config).frame.iloc[0]
    assert child["placement_start"] == dt.date(2019, 2, 1) and child["host_authority"] == "County Durham"
    assert (child["days_looked_after_before"], child["looked_after_12_months"]) == (before, twelve_months)
    # the same placements as SSDA903 tables give the same answer
    header = ["H1,1,15/06/2005,WBRI,,,"]
    in_order = sorted(rows, key=lambda r: "2019" in r.split(",")[4])   # the 2018 placement first
    starts = ["S", "P" if before else "S"]
    episodes = [f"H1,{r.split(',')[4]},{rne},C2,N1,U6,PR4,{r.split(',')[5]},X1,,TS24 8AA,{r.split(',')[-1]},"
                for r, rne in zip(in_order, starts)][::-1]   # in either order: a return is sorted by date
    returned = run_frame([write_return(tmp_path / "903", header, episodes)], config).frame.iloc[0]
    assert (returned["days_looked_after_before"], returned["looked_after_12_months"]) == (before, twelve_months)


def test_a_window_with_no_eligible_placement_gives_an_empty_frame(tmp_path, config):
    from dataclasses import replace
    import datetime as dt

    later = replace(config, window_start=dt.date(2024, 1, 1), window_end=dt.date(2024, 12, 31))
    result = run_frame([write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)], later)
    assert result.frame.empty and len(result.excluded) == 6
    assert set(result.excluded["reason"]) == {"placement started outside the review window (01/01/2024 to 31/12/2024)"}


def test_an_optional_table_sent_by_one_authority_leaves_the_other_unknown_not_zero(tmp_path, config):
    folder = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    (folder / "hartlepool" / "missing.csv").write_text("CHILD,DOB,MISSING,MIS_START,MIS_END\n")   # none went missing
    stockton = folder / "stockton"
    stockton.mkdir()
    (stockton / "header.csv").write_text(HEADER + "7,1,01/01/2006,WBRI,,,\n")
    (stockton / "episodes.csv").write_text(EPISODES + "7,01/03/2018,S,C2,N1,U4,PR4,,,,TS18 1AA,YO1 7HH,\n")
    frame = run_frame([folder], config).frame.set_index(["authority", "child_id"])["missing_episodes"]
    assert frame[("Hartlepool", "1")] == 0 and pd.isna(frame[("Stockton-on-Tees", "7")])


def test_implausible_and_placeholder_dates(tmp_path, config, date_reading):
    episodes = [GOOD_EPISODES[0].replace("01/02/2019", "31/12/9999"), GOOD_EPISODES[1].replace(",,,,TS24", ",31/12/9999,,,TS24")]
    result = run_frame([write_return(tmp_path, GOOD_HEADER, episodes[:1] + GOOD_EPISODES[2:])], config)
    assert pd.isna(result.frame.set_index("child_id").loc["1", "placement_end"])
    assert any("read as 'not ended'" in note for note in result.notes)
    with pytest.raises(InputProblems, match="'14/06/0018' is not a plausible date"):
        run_frame([write_return(tmp_path, GOOD_HEADER, [GOOD_EPISODES[0].replace("14/06/2018", "14/06/0018")])], config)


def test_an_episode_before_birth_and_an_unknown_authority_code_are_refused(tmp_path, config):
    from dataclasses import replace

    with pytest.raises(InputProblems, match="starts before the child's date of birth"):
        run_frame([write_return(tmp_path, GOOD_HEADER, [GOOD_EPISODES[0].replace("14/06/2018", "14/06/2004")])],
                  config)
    folder = write_return(tmp_path / "b", GOOD_HEADER, GOOD_EPISODES)
    wrong = replace(config, authorities=tuple(replace(a, code="E06009999") if a.name == "Hartlepool" else a
                                              for a in config.authorities))
    with pytest.raises(InputProblems, match="E06009999 is not an upper-tier authority"):
        run_frame([folder], wrong)


def test_a_large_return_framed_in_two_processes_matches_one_process(tmp_path, config, monkeypatch):
    """The national path (authorities shared between forked processes) gives the one-process result,
    problems included."""
    from review_lib import frame as frame_module
    from review_lib.synthetic import generate, write_return as write_synthetic

    folder = tmp_path / "ssda903"
    write_synthetic(generate(config, seed=7), folder, config)
    monkeypatch.setattr(frame_module, "PARALLEL_FROM_BYTES", 0)
    shares = frame_module._shares(frame_module.discover_returns([folder], config), 2)
    assert [len(share) for share in shares] == [1, 1]
    one, two = run_frame([folder], config, processes=1), run_frame([folder], config, processes=2)
    pd.testing.assert_frame_equal(one.frame, two.frame)
    pd.testing.assert_frame_equal(one.excluded.astype(str), two.excluded.astype(str))
    pd.testing.assert_frame_equal(one.funnel, two.funnel)
    assert sorted(one.notes) == sorted(two.notes) and len(one.frame) > 50
    # written to a folder, each worker writes its own part of excluded.csv: the files are the same
    for processes in (1, 2):
        (tmp_path / f"out{processes}").mkdir()
        written = run_frame([folder], config, processes=processes, folder=tmp_path / f"out{processes}")
        assert written.excluded_rows == len(one.excluded)
    for name in ("frame.csv", "excluded.csv", "funnel.csv"):
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["excluded.csv", "frame.csv", "funnel.csv"]
    episodes = next(folder.rglob("*pisodes*.csv"))
    episodes.write_text(episodes.read_text() + "999999,01/01/2018,S,C2,N1,U6,PR1,,,,TS24 8AA,NOT A POSTCODE,\n")
    messages = []
    for processes in (1, 2):
        with pytest.raises(InputProblems) as raised:
            run_frame([folder], config, processes=processes)
        messages.append([str(p) for p in raised.value.problems])
    assert messages[0] == messages[1] and any("'NOT A POSTCODE' is not a postcode" in m for m in messages[0])


def test_old_mac_line_endings_are_read_and_binary_or_utf16_files_refused(tmp_path, config):
    folder = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    header = folder / "hartlepool" / "header.csv"
    header.write_bytes(header.read_bytes().replace(b"\n", b"\r"))   # lines ending in CR alone
    assert list(run_frame([folder], config).frame["child_id"]) == ["1", "5"]
    episodes = folder / "hartlepool" / "episodes.csv"
    for content, message in [(EPISODES.encode() + bytes(range(128, 256)) * 4, "is not text in UTF-8 or Windows"),
                             (("\ufeff" + EPISODES).encode("utf-16"), "UTF-16"),
                             (EPISODES.encode("utf-16-le"), "UTF-16"), (EPISODES.encode("utf-16-be"), "UTF-16"),
                             (b"\x00\x01,\x02\x00\n\x00", "binary data")]:
        episodes.write_bytes(content)
        with pytest.raises(InputProblems, match=message):
            run_frame([folder], config)


def test_a_placement_starting_at_18_or_over_is_left_out_with_its_reason(tmp_path, config):
    header = GOOD_HEADER + ["6,1,01/06/2000,WBRI,,,"]
    # child 6 turns 18 on 01/06/2018: a distant placement starting that day is out of the review's ages
    episodes = GOOD_EPISODES + ["6,01/06/2018,S,C2,N1,K2,PR4,,,,TS24 8AA,YO1 7HH,SC1"]
    result = run_frame([write_return(tmp_path, header, episodes)], config)
    assert "6" not in set(result.frame["child_id"])
    assert result.excluded.set_index("CHILD").loc["6", "reason"] == \
        "child's age at placement start outside the review's ages (0 to 17)"
    funnel = result.funnel.set_index("step")["children"]
    assert funnel["Placement type in scope"] - funnel["Aged 0 to 17 at placement start"] == 1


def test_the_outputs_do_not_depend_on_the_order_the_returns_are_given_in(tmp_path, config):
    folder = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    stockton = folder / "stockton"
    stockton.mkdir()
    (stockton / "header.csv").write_text(HEADER + "7,1,01/01/2006,WBRI,,,\n")
    (stockton / "episodes.csv").write_text(EPISODES + "7,01/03/2018,S,C2,N1,U4,PR4,,,,TS18 1AA,YO1 7HH,\n"
                                           "7,01/03/2015,S,C2,N1,U4,PR4,01/03/2016,E1,,TS18 1AA,YO1 7HH,\n")
    written = {}
    for order in ([stockton, folder / "hartlepool"], [folder / "hartlepool", stockton]):
        out = tmp_path / f"out-{order[0].name}"
        out.mkdir()
        result = run_frame(order, config, folder=out)
        written[order[0].name] = {name: (out / name).read_bytes() for name in ("frame.csv", "excluded.csv", "funnel.csv")}
    assert written["stockton"] == written["hartlepool"]
    # Hartlepool (E06000001) before Stockton-on-Tees (E06000004), as their codes go
    assert list(result.funnel["authority"].unique()) == ["Hartlepool", "Stockton-on-Tees"]
    assert result.children.to_dict() == {"Hartlepool": 2, "Stockton-on-Tees": 1}


def test_the_frame_command_keeps_out_of_its_inputs_and_says_what_it_left(tmp_path, capsys):
    from review_lib.cli import main

    given = write_return(tmp_path / "in", GOOD_HEADER, GOOD_EPISODES)
    before = sorted((p.name, p.read_bytes()) for p in (given / "hartlepool").iterdir())
    for out in (given, given / "hartlepool", given / "hartlepool" / "frame"):
        assert main(["frame", "--ssda903", str(given), "--out", str(out), "--force"]) == 1
        assert "is among the files given to --ssda903" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("mine")
    assert main(["frame", "--ssda903", str(given), "--out", str(tmp_path / "a-file")]) == 1
    assert "a-file: is a file, not a folder" in capsys.readouterr().err
    # only Hartlepool's return: the frame is built, and says Stockton-on-Tees' is missing
    assert main(["frame", "--ssda903", str(given), "--out", str(tmp_path / "frame")]) == 0
    assert "No return was found for Stockton-on-Tees" in capsys.readouterr().out
    # a failed rerun names what it left; a note made on the way (the file is Windows text) is said too
    episodes = given / "hartlepool" / "episodes.csv"
    episodes.write_bytes(episodes.read_bytes().replace(b"CARPL", "CARPL \u2013".encode("cp1252")).replace(b"U4", b"XX"))
    assert main(["frame", "--ssda903", str(given), "--out", str(tmp_path / "frame"), "--force"]) == 1
    err = capsys.readouterr().err
    assert "'XX' is not a placement code" in err and "note: files not in UTF-8, read as Windows (cp1252) text" in err
    assert "frame.csv, excluded.csv, funnel.csv already in" in err and "left as they were" in err
    assert (tmp_path / "a-file").read_text() == "mine"
    assert sorted(p.name for p in (given / "hartlepool").iterdir()) == [name for name, _ in before]


def test_an_unreadable_folder_among_the_returns_is_refused_not_skipped(tmp_path, config, monkeypatch):
    import os

    given = write_return(tmp_path / "in", GOOD_HEADER, GOOD_EPISODES)
    (given / "stockton-on-tees").mkdir()
    scandir = os.scandir

    def denied(path="."):   # as for a folder without read permission (the tests may run as root)
        if str(path).endswith("stockton-on-tees"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(InputProblems, match="stockton-on-tees: the folder cannot be read"):
        run_frame([given], config)


def test_a_register_workbook_as_councils_keep_them(tmp_path, config):
    from openpyxl import Workbook

    head = REGISTER_HEAD.split(",")
    wb = Workbook()
    wb.active.title = "Read me"
    wb.active.append(["How to fill this in"])   # instructions first: the register is the next sheet
    register = wb.create_sheet("Register")
    register.append(head)
    # dates as Excel day numbers (a date column left as 'General'): 38518 is 15/06/2005, 43265 14/06/2018
    register.append(["H1", "Hartlepool", "1", 38518, 43265, None, "U6", "C2", "N1", "TS24 8AA", "DL14 6AB"])
    wb.save(tmp_path / "register.xlsx")
    result = run_frame([tmp_path / "register.xlsx"], config)
    child = result.frame.iloc[0]
    assert (child["placement_start"], child["age_at_placement"]) == (dt.date(2018, 6, 14), 12)
    assert any("read from sheet 'Register'" in note for note in result.notes)
    assert any("Excel day numbers, read as dates: 2" in note for note in result.notes)
    # problems are named by the register's own columns, not the SSDA903 ones it is turned into
    register.append(["H2", "Hartlepool", "1", "01/01/2006", "31/06/2018", None, "U6", "C2", "N1", "TS24 8AA", "DL14 6A"])
    register.append(["H3", None, "1", "01/01/2006", "01/03/2018", None, "U6", "C2", "N1", "TS24 8AA", "DL14 6AB"])
    wb.save(tmp_path / "register.xlsx")
    with pytest.raises(InputProblems, match="line 4, column authority: the authority is blank"):
        run_frame([tmp_path / "register.xlsx"], config)
    register["B4"] = "Hartlepool"
    wb.save(tmp_path / "register.xlsx")
    with pytest.raises(InputProblems) as caught:
        run_frame([tmp_path / "register.xlsx"], config)
    assert "line 3, column placement_start: '31/06/2018' is not a real date" in str(caught.value)
    assert "line 3, column placement_postcode: 'DL14 6A' is not a postcode" in str(caught.value)
    empty = Workbook()
    empty.active.append(head)
    empty.save(tmp_path / "empty_register.xlsx")
    with pytest.raises(InputProblems, match="the register has no rows"):
        run_frame([tmp_path / "empty_register.xlsx"], config)


def test_a_whole_export_folder_and_loosely_given_paths(tmp_path, config):
    given = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    folder = given / "hartlepool"
    # the social workers' episodes table of a full SSDA903 export is not a second episodes table
    (folder / "sw_episodes.csv").write_text("CHILD,SW_ID,SW_DECOM\n1,A1,14/06/2018\n")
    dated = folder.rename(given / "Hartlepool 2019")   # a folder named after the authority, and more
    (tmp_path / "notes.doc").write_text("not a table")
    result = run_frame([dated, dated, dated / "episodes.csv", tmp_path / "notes.doc"], config)
    assert list(result.frame["child_id"]) == ["1", "5"]   # each file read once
    assert any(note.startswith("files given but not read") and "notes.doc" in note for note in result.notes)


def test_a_register_sheet_with_a_blank_first_column_and_a_year_typed_alone(tmp_path, config):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append([None] + REGISTER_HEAD.split(","))   # the table starts in column B
    wb.active.append([None, "H1", "Hartlepool", 1, 38518, 43265, 43500, "U6", "C2", "N1", "TS24 8AA", "DL14 6AB"])
    wb.save(tmp_path / "register.xlsx")
    child = run_frame([tmp_path / "register.xlsx"], config).frame.iloc[0]
    # 38518, 43265 and 43500 are 15/06/2005, 14/06/2018 and 04/02/2019; sex 1 is left alone
    assert (child["placement_start"], child["placement_end"]) == (dt.date(2018, 6, 14), dt.date(2019, 2, 4))
    assert child["age_at_placement"] == 12
    wb.active["E2"] = 2005   # a year alone is no date, not day 2005 of Excel's calendar (27/06/1905)
    wb.save(tmp_path / "register.xlsx")
    with pytest.raises(InputProblems, match="line 2, column date_of_birth: '2005' is not written as a date"):
        run_frame([tmp_path / "register.xlsx"], config)


def test_only_the_nearest_folder_names_an_authority_by_its_opening_words(tmp_path, config):
    given = write_return(tmp_path / "Hartlepool review team" / "returns", GOOD_HEADER, GOOD_EPISODES)
    (given / "hartlepool").rename(given / "stockton_council")   # the council's own, not the team's name
    with pytest.raises(InputProblems, match="cannot tell which authority"):
        run_frame([given], config)
    (given / "stockton_council").rename(given / "Stockton-on-Tees_returns")
    assert set(run_frame([given], config).frame["authority_code"]) == {"E06000004"}


def test_a_long_file_of_values_over_several_lines_and_old_mac_line_ends(tmp_path, config):
    rows = [GOOD_EPISODES[0].replace("CARPL", '"moved\nnearer\nschool"')] + GOOD_EPISODES[1:]
    rows = rows[:1] + [""] + rows[1:]   # and a blank line: the XX row starts on line 8 (worked out by hand)
    rows[4] = rows[4].replace(",U4,", ",XX,")
    many = [f'{9000 + n},01/03/2018,S,C2,N1,U4,PR4,,,"a long\nreason",TS24 8AA,TS24 8AA,' for n in range(30_000)]
    header = GOOD_HEADER + [f"{9000 + n},1,01/01/2008,WBRI,,," for n in range(30_000)]
    folder = write_return(tmp_path, header, rows + many)   # over 2 MB: the parser reads it in blocks
    path = folder / "hartlepool" / "episodes.csv"
    assert path.stat().st_size > 2_000_000 and path.read_text().splitlines()[7].count(",XX,") == 1
    for line_end in ("\n", "\r"):
        path.write_bytes(path.read_bytes().replace(b"\n", line_end.encode()))
        with pytest.raises(InputProblems) as caught:
            run_frame([folder], config, processes=1)
        assert "line 8, column PLACE: 'XX' is not a placement code" in str(caught.value)
        path.write_bytes(path.read_bytes().replace(line_end.encode(), b"\n"))


def test_a_linked_folder_is_read_and_a_loop_of_links_read_once(tmp_path, config):
    real = write_return(tmp_path / "real", GOOD_HEADER, GOOD_EPISODES)
    given = tmp_path / "given"
    given.mkdir()
    (given / "hartlepool").symlink_to(real / "hartlepool", target_is_directory=True)
    (real / "hartlepool" / "back").symlink_to(given, target_is_directory=True)   # a loop
    assert list(run_frame([given], config).frame["child_id"]) == ["1", "5"]


@pytest.mark.parametrize("opened", ["in a column read (PL_POST)", "in a column not read (URN)"])
def test_a_quote_never_closed_is_named_not_swallowed(tmp_path, config, opened):
    episodes = list(GOOD_EPISODES)
    # the second row, on line 3: its placement postcode, or its URN (last), opened with a quote
    episodes[1] = '1,01/02/2019,P,C2,N1,U6,PR1,,,,TS24 8AA,"TS24 8AA,' if "PL_POST" in opened else episodes[1] + '"SC9'
    with pytest.raises(InputProblems) as caught:
        run_frame([write_return(tmp_path, GOOD_HEADER, episodes)], config)
    message = str(caught.value)
    assert "line 3: a quote is opened in this row and never closed, so every line after it runs into one value" \
        in message and "YO1 7HH" not in message   # the rows it swallowed are not printed


def _register_book(sheets: dict[str, list[list]]):
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        sheet = wb.create_sheet(title)
        for row in rows:
            sheet.append(row)
    return wb


H1_ROW = ["H1", "Hartlepool", "1", "15/06/2005", "14/06/2018", "", "U6", "C2", "N1", "TS24 8AA", "DL14 6AB"]
S1_ROW = ["S1", "Stockton-on-Tees", "2", "01/01/2008", "10/05/2017", "", "K2", "V2", "N5", "TS18 1", "YO1 7HH"]


def test_a_register_workbook_laid_out_by_hand(tmp_path, config):
    head = REGISTER_HEAD.split(",")
    # a title above, the names as people write them, a column of the council's own
    titled = ["Child ID", "Authority", "Sex", "Date of birth", "Placement start", "Placement end", "Placement code",
              "Legal status", "Category-of-need", "Home postcode", "Placement postcode", "Social worker"]
    _register_book({"Register": [["Case register, March 2020"], [], titled, H1_ROW + ["J. Smith"]]}).save(
        tmp_path / "register.xlsx")
    result = run_frame([tmp_path / "register.xlsx"], config)
    child = result.frame.iloc[0]
    assert (child["child_id"], child["legal_status"], child["category_of_need"]) == ("H1", "C2", "N1")
    assert any("its column names in row 3" in note for note in result.notes)
    assert any("columns not read (not in the template): social_worker" in note for note in result.notes)
    # each authority on its own sheet: refused, not one sheet read and the other left out
    _register_book({"Hartlepool": [head, H1_ROW], "Stockton-on-Tees": [head, S1_ROW]}).save(tmp_path / "register.xlsx")
    with pytest.raises(InputProblems, match="the register's columns are on 2 sheets \\('Hartlepool', 'Stockton-on-Tees'\\)"):
        run_frame([tmp_path / "register.xlsx"], config)
    _register_book({"Register": [head + ["placement_end"], H1_ROW + [""]]}).save(tmp_path / "register.xlsx")
    with pytest.raises(InputProblems, match="line 1: column placement_end appears more than once"):
        run_frame([tmp_path / "register.xlsx"], config)
    # a formula a program wrote and no spreadsheet worked out reads as blank: refused, by its cell
    _register_book({"Register": [head, H1_ROW[:5] + ["=E2+180"] + H1_ROW[6:]]}).save(tmp_path / "register.xlsx")
    with pytest.raises(InputProblems, match="sheet 'Register', cell F2: holds a formula with no saved value"):
        run_frame([tmp_path / "register.xlsx"], config)


def test_a_register_end_date_counting_its_last_day_continues_the_care(tmp_path, config):
    rows = ["H1,Hartlepool,1,15/06/2005,01/06/2018,31/01/2019,U6,C2,N1,TS24 8AA,TS25 5JX",
            "H1,Hartlepool,1,15/06/2005,01/02/2019,01/08/2019,U6,C2,N1,TS24 8AA,DH8 7BQ"]
    (tmp_path / "case_register.csv").write_text("\n".join([REGISTER_HEAD] + rows) + "\n")
    result = run_frame([tmp_path / "case_register.csv"], config)
    # in care since 01/06/2018: 245 days before 01/02/2019 (worked out by hand)
    assert result.frame.iloc[0]["days_looked_after_before"] == 245
    assert any("the day after the last one ended, read as continuous care (end dates that count their last day): 1"
               in note for note in result.notes)


def test_a_return_in_a_folder_named_after_the_other_council_is_warned_of(tmp_path, config, monkeypatch):
    from review_lib import frame as frame_module

    monkeypatch.setattr(frame_module, "HOMES_TO_TELL", 3)   # the small return has four candidate placements
    given = write_return(tmp_path, GOOD_HEADER, GOOD_EPISODES)
    (given / "hartlepool").rename(given / "stockton")   # every home is in Hartlepool (TS24 8AA)
    warnings = [n for n in run_frame([given], config).notes if n.startswith("Warning: ")]
    assert len(warnings) == 1 and "4 of the 4 placements in Stockton-on-Tees's return with a known home postcode " \
        "have the home outside Stockton-on-Tees, most in Hartlepool" in warnings[0]
    (given / "stockton").rename(given / "hartlepool")
    assert not [n for n in run_frame([given], config).notes if n.startswith("Warning: ")]


def test_age_in_whole_years_agrees_with_calendar_arithmetic():
    """Ages from whole-array date arithmetic against Python's dates, leap-day birthdays included."""
    import numpy as np

    from review_lib.frame import _age_on

    rng = np.random.default_rng(1)
    born = (np.datetime64("1990-01-01") + rng.integers(0, 12_000, 50_000)).astype("datetime64[D]")
    on = (born + rng.integers(0, 8_000, 50_000)).astype("datetime64[D]")
    expected = [d.year - b.year - ((d.month, d.day) < (b.month, b.day)) for b, d in zip(born.tolist(), on.tolist())]
    assert _age_on(born, on).tolist() == expected
    leap = np.array(["2000-02-29"] * 3, dtype="datetime64[D]")
    assert _age_on(leap, np.array(["2001-02-28", "2001-03-01", "2004-02-29"], dtype="datetime64[D]")).tolist() == [0, 1, 4]
    assert _age_on(np.array(["NaT"], dtype="datetime64[D]"), leap[:1]).tolist() == [-1]


def test_episodes_sort_by_child_then_start_as_a_two_key_sort_would():
    """The frame sorts episodes on one number (child, day); the order must be numpy's two-key
    lexsort's, unknown starts first within their child and ties kept in file order."""
    import numpy as np

    from review_lib.frame import _day_keys

    rng = np.random.default_rng(3)
    for _ in range(5):
        key = rng.integers(0, 3_000, 50_000) * 7 + rng.integers(0, 151, 50_000) * 10**6
        days = (np.datetime64("1900-01-01") + rng.integers(0, 73_000, 50_000)).astype("datetime64[D]")
        days[rng.random(50_000) < 0.05] = np.datetime64("NaT")
        days[rng.random(50_000) < 0.3] = days[0]
        assert (np.argsort(_day_keys(key, days), kind="stable") == np.lexsort((days.view(np.int64), key))).all()


@pytest.mark.parametrize("kernel_copy", ["works", "refused", "partial"])
def test_worker_parts_are_joined_in_order_whatever_the_kernel_copies(tmp_path, monkeypatch, kernel_copy):
    import os

    from review_lib.frame import _concatenated

    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, part in enumerate(parts):
        part.write_bytes(f"part {i}\n".encode() * (1000 + i))
    expected = b"".join(p.read_bytes() for p in parts)
    real = os.copy_file_range
    if kernel_copy == "refused":   # another system, or a file system the kernel cannot copy within
        monkeypatch.setattr(os, "copy_file_range", lambda *a: (_ for _ in ()).throw(OSError(18, "cross-device")))
    elif kernel_copy == "partial":   # copies a little, then stops
        monkeypatch.setattr(os, "copy_file_range", lambda src, dst, count: real(src, dst, min(count, 100)) if
                            os.lseek(src, 0, os.SEEK_CUR) < 100 else 0)
    _concatenated(parts, tmp_path / "joined.csv")
    assert (tmp_path / "joined.csv").read_bytes() == expected
    assert not any(p.exists() for p in parts)
