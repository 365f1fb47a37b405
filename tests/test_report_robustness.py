"""The report still builds, and says plainly what is missing, on incomplete or odd answers."""

import re
import shutil

import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli


@pytest.mark.slow
def test_report_builds_and_says_what_is_missing(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review, ignore=shutil.ignore_patterns("report"))
    answers = pd.read_csv(review / "check" / "answers.csv", dtype=str, keep_default_na=False)
    answers = answers[answers["authority"] != "Hartlepool"]                       # no coded case returned
    answers.loc[answers["question"] == "host_notified", "answer"] = "Not recorded in file"
    stray = answers.iloc[:1].assign(question="old_question_v0")                   # not in the codebook
    pd.concat([answers, stray]).to_csv(review / "check" / "answers.csv", index=False)
    (review / "report_inputs").mkdir()
    quotes = pd.read_csv(review / "check" / "quote_candidates.csv", dtype=str, keep_default_na=False)
    stockton = quotes.index[quotes["authority"] == "Stockton-on-Tees"][:2]
    quotes.loc[stockton, "include"] = "yes"
    quotes.loc[stockton[0], "quote"] = "Wording chosen by the analyst."
    quotes.to_csv(review / "report_inputs" / "quotes.csv", index=False)
    run = run_cli("report", "--review", str(review))
    assert run.returncode == 0, run.stderr
    hartlepool = (review / "report" / "hartlepool_findings.html").read_text()
    assert "Hartlepool: no coded case has been returned yet" in hartlepool
    assert "old_question_v0" in hartlepool and "every case answered" in hartlepool
    assert "data:image/png" not in hartlepool.split("</style>")[-1]             # no empty charts
    stockton_page = (review / "report" / "stockton_findings.html").read_text()
    assert stockton_page.count("<blockquote>") == 2 and "Wording chosen by the analyst." in stockton_page
    assert "report_inputs/recommendations.csv" in (review / "report" / "executive_summary.html").read_text()
    # a question the files never record is not the index's "weakest" (nor its "strongest")
    from review_lib.codebook import load_codebook

    label = load_codebook().questions.set_index("name")["report_label"]["host_notified"]
    summary = (review / "report" / "index.html").read_text().split("<h2", 2)[1]
    assert "the weakest" in summary and label.replace("'", "&#x27;") not in summary


@pytest.mark.slow
def test_publication_version_suppresses_and_is_scanned(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review, ignore=shutil.ignore_patterns("report"))
    run = run_cli("report", "--review", str(review), "--publish")
    assert run.returncode == 0, run.stderr
    findings = pd.read_csv(review / "report" / "findings.csv", dtype=str, keep_default_na=False)
    counts = findings["count"][findings["count"] != "c"].astype(int)
    assert (findings["count"] == "c").any() and not counts.between(1, 4).any()
    assert "publication version" in (review / "report" / "executive_summary.html").read_text()
    # an analyst's table that names a child stops the build, and the previous report stays
    key = pd.read_csv(review / "sample" / "key.csv", dtype=str)
    (review / "report_inputs").mkdir(exist_ok=True)
    (review / "report_inputs" / "recommendations.csv").write_text(
        f"number,recommendation,review_question,owner,by_when\n1,Review the plan for child {key['child_id'][0]},Q4,HoS,2020\n")
    before = (review / "report" / "index.html").read_bytes()
    run = run_cli("report", "--review", str(review), "--publish", "--force")
    assert run.returncode == 1 and "would reveal children" in run.stderr and "Traceback" not in run.stderr
    assert (review / "report" / "index.html").read_bytes() == before
    # so does a postcode written in lower case without its space, or a date of birth in words
    header = pd.read_csv(next((review / "inputs" / "ssda903").rglob("header.csv")), dtype=str)
    episodes = pd.read_csv(next((review / "inputs" / "ssda903").rglob("episodes.csv")), dtype=str)
    postcode = episodes["HOME_POST"].dropna().iloc[0]
    born = pd.to_datetime(header["DOB"].iloc[0], dayfirst=True)
    for written in (postcode.lower().replace(" ", ""), f"{born.day} {born:%B %Y}", f"{born.day} {born:%b %Y}"):
        (review / "report_inputs" / "recommendations.csv").write_text(
            f"number,recommendation,review_question,owner,by_when\n1,Visit the home at {written},Q4,HoS,2020\n")
        run = run_cli("report", "--review", str(review), "--publish", "--force")
        assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
        assert re.search(r"executive_summary\.html contains 1 (full postcode|date of birth)", run.stderr), run.stderr
        assert written not in run.stderr and written.upper() not in run.stderr
        assert (review / "report" / "index.html").read_bytes() == before


@pytest.mark.slow
def test_a_failing_notebook_stops_the_build_and_keeps_the_old_report(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review)
    frame = pd.read_csv(review / "frame" / "frame.csv", dtype=str)
    frame.drop(columns=["distance_band"]).to_csv(review / "frame" / "frame.csv", index=False)
    before = {p.name: p.read_bytes() for p in (review / "report").iterdir()}
    run = run_cli("report", "--review", str(review), "--force")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "notebook 01_population_and_sample failed at code cell" in run.stderr and "distance_band" in run.stderr
    assert {p.name: p.read_bytes() for p in (review / "report").iterdir()} == before
    assert not list(review.glob(".report-*"))


@pytest.mark.slow
def test_the_same_inputs_give_the_same_numbers(demo_review, tmp_path):
    again = tmp_path / "again"
    run = run_cli("demo", "--out", str(again))
    assert run.returncode == 0, run.stderr
    for table in ("frame/frame.csv", "sample/sample.csv", "check/answers.csv", "report/findings.csv"):
        assert (again / table).read_bytes() == (demo_review / table).read_bytes(), table


@pytest.mark.slow
def test_a_cell_that_runs_too_long_stops_the_build(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review)
    run = run_cli("report", "--review", str(review), "--force", "--timeout", "1")
    assert run.returncode == 1 and "ran longer than 1 s" in run.stderr and "Traceback" not in run.stderr
    assert (review / "report" / "index.html").exists() and not list(review.glob(".report-*"))


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_the_old_report(demo_review, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    def kernels() -> set[str]:
        found = subprocess.run(["pgrep", "-f", "ipykernel_launcher"], capture_output=True, text=True)
        return set(found.stdout.split())

    review = tmp_path / "review"
    shutil.copytree(demo_review, review)
    before = (review / "report" / "index.html").read_bytes()
    running_before = kernels()
    build = subprocess.Popen([sys.executable, "-m", "review_lib", "report", "--review", str(review), "--force"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(120):   # wait until the notebooks are running
        if kernels() - running_before:
            break
        time.sleep(0.25)
    else:
        pytest.fail("the build had not started its kernels within 30 s")
    time.sleep(1)
    build.send_signal(signal.SIGINT)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 130 and "Traceback" not in err, err
    assert "Stopped" in err and "kernel died" not in err, err
    assert (review / "report" / "index.html").read_bytes() == before
    assert not list(review.glob(".report-*"))
    time.sleep(1)
    assert kernels() <= running_before    # every kernel the build started has stopped


@pytest.mark.slow
def test_a_kernel_that_dies_stops_the_build_and_says_which_notebook(demo_review, tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    def kernels_of(pid: int) -> list[int]:   # only this build's kernels, never another process's
        found = subprocess.run(["pgrep", "-P", str(pid), "-f", "ipykernel_launcher"], capture_output=True, text=True)
        return sorted(int(p) for p in found.stdout.split())

    review = tmp_path / "review"
    shutil.copytree(demo_review, review)
    before = (review / "report" / "index.html").read_bytes()
    build = subprocess.Popen([sys.executable, "-m", "review_lib", "report", "--review", str(review), "--force"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(120):
        started = kernels_of(build.pid)
        if started:
            break
        time.sleep(0.25)
    else:
        pytest.fail("the build had not started its kernels within 30 s")
    time.sleep(2)
    os.kill(started[0], signal.SIGKILL)
    _, err = build.communicate(timeout=120)
    assert build.returncode == 1 and "Traceback" not in err, err
    pages = "|".join(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert re.search(rf"notebook ({pages})( \(run for [^)]+\))?: the kernel died while running it", err), err
    assert (review / "report" / "index.html").read_bytes() == before
    assert not list(review.glob(".report-*"))
    time.sleep(1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in started)


def test_a_question_the_files_mostly_leave_unrecorded_is_not_ranked_strongest_or_weakest():
    from review_lib.codebook import NOT_RECORDED
    from review_lib.findings import BOTH, mostly_unrecorded, strengths_and_gaps

    def coded(question, answers, authority="Hartlepool"):
        return [{"review_id": f"H-{i}", "authority": authority, "role": "first coder", "question": question,
                 "answer": a} for i, a in enumerate(answers)]
    # 'silent': 3 of 5 cases unrecorded; 'mostly_recorded': 2 of 5; 'agencies': 2 of 3 cases, the
    # third a multi-choice answer ticking three agencies (one case, not three)
    answers = pd.DataFrame(coded("silent", [NOT_RECORDED] * 3 + ["No"] * 2)
                           + coded("mostly_recorded", [NOT_RECORDED] * 2 + ["Yes"] * 3)
                           + coded("agencies", [NOT_RECORDED, NOT_RECORDED, "Health", "School", "Police"])[:2]
                           + [{"review_id": "H-2", "authority": "Hartlepool", "role": "first coder",
                               "question": "agencies", "answer": a} for a in ("Health", "School", "Police")])
    assert mostly_unrecorded(answers) == {"silent", "agencies"}
    assert mostly_unrecorded(answers, "Stockton-on-Tees") == set()
    headlines = pd.DataFrame({"question": ["silent", "mostly_recorded", "agencies"],
                              f"{BOTH}|percent": [0.0, 60.0, 20.0], f"{BOTH}|n": [5, 5, 5]})
    best, worst = strengths_and_gaps(headlines, BOTH, k=1, skip=mostly_unrecorded(answers))
    assert list(best["question"]) == list(worst["question"]) == ["mostly_recorded"]
