"""The HTML report: simulated banner, footnoted warnings, plain numbers, what next, layout."""

import base64
import re
import struct

import pytest

from dataquality_thresholds.study import StudyResults

FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
# correct answers of 50 per share: all 0 below 0.5 and all 50 above it (separation)
EVENTS = {0.1: 0, 0.25: 0, 0.5: 25, 0.75: 50, 0.9: 50, 1.0: 50}
SEPARATION = "all outcomes are 0 or all are 1 at some tested x (separation)"


def _rows(domains=("finance", "legal"), corruptions=("obvious", "subtle"), events=None):
    events = events or EVENTS
    out = []
    for d in domains:
        for c in corruptions:
            for f in FRACTIONS:
                for rep in range(2):
                    e = events[f]
                    out.append(
                        {
                            "domain": d,
                            "corruption": c,
                            "fraction": f,
                            "share_correct": f,
                            "replicate": rep,
                            "metric": "domain_score",
                            "value": e / 50,
                            "n": 50,
                            "events": e,
                            "ci_low": None,
                            "ci_high": None,
                            "model": f"ft:{d}:{c}:{f}:{rep}",
                        }
                    )
    return out


def _results(rows=None, backend="local-stub", completed=True, stopped=None, **config):
    cfg = {"fractions": list(FRACTIONS), "replicates": 2, **config}
    if backend is not None:
        cfg["backend"] = backend
    return StudyResults(
        _rows() if rows is None else rows,
        config=cfg,
        jobs=[],
        completed=completed,
        stopped=stopped,
    )


def _report(tmp_path, results):
    return results.report(tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return _report(tmp_path_factory.mktemp("sim"), _results())


def test_a_simulated_run_opens_with_a_banner(simulated):
    assert 'class="banner"' in simulated
    assert "Simulated numbers, not from a real model" in simulated
    body = simulated.split("<body>", 1)[1]
    assert body.index('class="banner"') < body.index("<h1>")  # at the very top
    assert "<title>dataquality_thresholds report (simulated)</title>" in simulated


@pytest.mark.parametrize("backend", ["openai", "hf", "together", None])
def test_a_real_backend_has_no_banner(tmp_path, backend):
    html = _report(tmp_path, _results(backend=backend))
    assert 'class="banner"' not in html and "Simulated numbers" not in html
    assert "Run it for real" not in html
    assert "(simulated)" not in html


def test_a_warning_repeated_on_every_curve_is_one_footnote(simulated):
    # four curves, each with the same ~170-character SeparationWarning
    table = simulated.split('<h2 id="domain_score">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 4
    assert SEPARATION not in table  # cells carry only markers
    assert simulated.count(SEPARATION) == 1
    assert "<strong>SeparationWarning</strong>: " + SEPARATION in simulated
    (number,) = set(
        re.findall(r'<li id="note-(\d+)" value="\d+"><strong>SeparationWarning', simulated)
    )
    assert table.count(f'href="#note-{number}"') == 4


def test_no_numpy_reprs_in_the_report(tmp_path):
    flat = {f: 50 for f in FRACTIONS}  # all outcomes equal: the fit fails
    html = _report(tmp_path, _results(_rows(events=flat)))
    assert "np.float64" not in html and "numpy." not in html
    tables = html.split('<h2 id="domain_score">', 1)[1].split("<h2>", 1)[0]
    assert tables.count("all run-level outcomes equal 1.0") == 1  # one footnote, 4 curves
    assert tables.count("no threshold found") == 4
    meaning = html.split('id="what-next"', 1)[1].split('<h2 id="domain_score">', 1)[0]
    assert "No threshold was found for any of the 4 curves" in meaning
    assert "no threshold found for domain performance (all run-level outcomes equal 1.0" in (
        meaning
    )
    assert "4 curve(s) have no threshold" in meaning


def test_what_this_means_and_what_next(simulated):
    assert '<h2 id="what-next">What this means and what next</h2>' in simulated
    section = simulated.split('id="what-next"', 1)[1].split('<h2 id="domain_score">', 1)[0]
    for domain in ("finance", "legal"):
        for corruption in ("obvious", "subtle"):
            assert f"<strong>{domain}, {corruption} corruption</strong>: domain performance" in (
                section
            )
    assert re.search(r"is back at about \d+% correct training data", section)
    assert re.search(r"95% interval \d+% to \d+% correct", section)
    assert "Run it for real" in section and "docs/backends.md" in section
    assert "docs/fitting.md" in section and "docs/study.md" in section


def test_a_wide_interval_suggests_replicates_shares_and_the_adaptive_design(tmp_path):
    noisy = {0.1: 10, 0.25: 14, 0.5: 22, 0.75: 36, 0.9: 40, 1.0: 41}
    rows = _rows(domains=("finance",), events=noisy)
    html = _report(tmp_path, _results(rows, target_half_width=0.01))
    section = html.split('id="what-next"', 1)[1].split("<h2 ", 1)[0]
    assert "Narrow the intervals" in section
    assert "Add replicates (this run had 2 per share)" in section
    assert "wider than &plusmn;0.01" in section
    assert 'design="adaptive"' in section
    shares = re.search(r"near the thresholds \(([0-9., ]+)\)", section).group(1)
    assert {float(s) for s in shares.split(", ")} <= {0.7, 0.8, 0.85}  # untested, inside
    narrow = _report(tmp_path, _results(rows, target_half_width=0.1))
    assert "Narrow the intervals" not in narrow


def test_a_stopped_run_says_how_to_go_on(tmp_path):
    stopped = {"reason": "budget", "spent_usd": 4.5, "budget_usd": 5.0, "next": "a job"}
    html = _report(tmp_path, _results(backend="openai", completed=False, stopped=stopped))
    assert "Finish the run" in html and "$4.50 of $5.00 spent" in html
    assert "dqt resume RUN_DIR" in html and "budget_usd" in html


def _png_sizes(html):
    sizes = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html):
        raw = base64.b64decode(data)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        sizes.append(struct.unpack(">II", raw[16:24]))
    return sizes


def test_plots_fit_a_laptop_window(tmp_path):
    pytest.importorskip("matplotlib")
    four = _rows(domains=("coding", "finance", "health", "legal"))
    html = _report(tmp_path, _results(four))
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "img{max-width:100%;height:auto" in css
    assert re.search(r"body\{[^}]*max-width:1100px", css)
    assert "overflow-wrap:anywhere" in css and "overflow-x:auto" in css
    sizes = _png_sizes(html)
    assert sizes and all(w <= 1100 and h <= 1100 for w, h in sizes)
    assert "<figcaption>" in html


def test_every_plot_has_a_legend_for_the_line_and_the_band():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    for domains in (("finance",), ("coding", "finance", "health")):
        res = _results(_rows(domains=domains))
        fig = res.plot("domain_score")
        try:
            assert len(fig.legends) == 1
            labels = [t.get_text() for t in fig.legends[0].get_texts()]
            assert "fitted curve" in labels
            assert "threshold (estimate)" in labels
            assert "95% interval of the threshold" in labels
            assert "obvious corruption: one run" in labels
            width, height = fig.get_size_inches() * 110
            assert width <= 1100 and height <= 1100
            visible = [ax for ax in fig.axes if ax.get_visible()]
            assert len(visible) == len(domains)
            assert all(ax.get_xlabel() for ax in visible if ax.get_subplotspec().is_last_row())
        finally:
            plt.close(fig)


def test_a_real_study_report(tmp_path):
    from common import make_study

    res = make_study(tmp_path / "run").run(progress=False)
    html = _report(tmp_path, res)
    assert 'class="banner"' in html and 'id="what-next"' in html
    assert "np.float64" not in html
    assert html.count("<h2>Probe rates</h2><details>") == 1
    assert "<h2>Configuration</h2><details>" in html


def test_footnotes_number_each_text_once_and_point_back():
    from dataquality_thresholds.study._report_notes import Footnotes, clean

    notes = Footnotes()
    marks, numbers = notes.markers(["a warning", "a warning", "np.float64(0.5) is odd"])
    assert numbers == [1, 2] and marks.count("<sup") == 2
    assert notes.number("a warning ") == 1 and notes.number("0.5 is odd") == 2
    first = notes.listing([1, 2])
    assert first.count("<li") == 2 and "0.5 is odd" in first and "np." not in first
    again = notes.listing([2])
    assert "<li" not in again and '<a href="#note-2">[2]</a>: as above' in again
    assert clean("equal np.float64(1.0) and numpy.int64(3), np.True_") == (
        "equal 1.0 and 3, np.True_"
    )
