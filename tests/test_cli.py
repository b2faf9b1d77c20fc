import json
import subprocess
import sys

import pytest

from dataquality_thresholds.cli import main

CONFIG = """
run_dir = "run"
seed = 3
fractions = [0.1, 0.5, 0.75, 1.0]
corruptions = ["subtle"]
replicates = 2
size = 16

[backend]
kind = "stub"

[probe]
questions = "bundled"
samples = 2
categories = ["moral"]

[[domain]]
name = "finance"
pool = "sample"
eval = "sample"
"""


@pytest.mark.slow
def test_demo_runs_the_offline_study_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet", "--replicates", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Thresholds: domain performance" in printed and "Thresholds: misalignment" in printed
    for domain in ("coding", "finance", "health", "legal"):
        assert domain in printed
    report = (out / "report.html").read_text()
    assert "Domain performance" in report and "data:image/png;base64" in report
    assert (out / "domain_score.png").stat().st_size > 1000
    assert (out / "ledger.sqlite").exists()


def test_mix_and_validate_commands(tmp_path, capsys):
    from dataquality_thresholds import load_sample_examples, write_paired_jsonl

    src = tmp_path / "pool.jsonl"
    write_paired_jsonl(load_sample_examples("legal"), src)
    out = tmp_path / "mixes"
    assert (
        main(
            [
                "mix",
                str(src),
                "--out",
                str(out),
                "--size",
                "16",
                "--fractions",
                "0,0.5",
                "--corruption",
                "obvious=0.5,subtle=0.5",
            ]
        )
        == 0
    )
    files = sorted(out.glob("*.jsonl"))
    assert len(files) == 2
    man = json.loads(files[0].with_name(files[0].stem + ".manifest.json").read_text())
    assert man["counts"] == {"correct": 0, "obvious": 8, "subtle": 8}
    assert main(["validate", str(files[0])]) == 0
    assert "16 examples" in capsys.readouterr().out


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "dataquality_thresholds", "--version"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "dqt" in out.stdout


def test_plan_run_resume_report(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text(CONFIG)
    assert main(["plan", str(cfg)]) == 0
    assert "distinct jobs" in capsys.readouterr().out
    assert main(["run", str(cfg), "--quiet"]) == 0
    first = capsys.readouterr().out
    assert "Report:" in first and (tmp_path / "run" / "report.html").exists()
    assert (tmp_path / "run" / "config.toml").read_text() == CONFIG
    assert main(["resume", str(tmp_path / "run"), "--quiet"]) == 0
    assert "submitted" not in capsys.readouterr().out  # nothing left to submit
    (tmp_path / "run" / "report.html").unlink()
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "report.html").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        (("size = 16", "size = -1"), "size"),
        (("fractions = [0.1, 0.5, 0.75, 1.0]", "fractions = [0.1, 2.0]"), "fractions"),
        (('kind = "stub"', 'kind = "magic"'), "backend.kind"),
        (('name = "finance"', 'name = "finance"\njudge = "vibes"'), "domain[0].judge"),
        (("seed = 3", "seed = 3\ncolour = 1"), "colour"),
        (('[[domain]]\nname = "finance"\npool = "sample"\neval = "sample"', ""), "domain"),
    ],
)
def test_bad_configs_exit_2_naming_the_field(tmp_path, capsys, change, field):
    cfg = tmp_path / "study.toml"
    cfg.write_text(CONFIG.replace(*change))
    assert main(["plan", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"field '{field}'" in err and "study.toml" in err


def test_bad_toml_names_the_line(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text('run_dir = "x"\nseed = = 3\n')
    assert main(["plan", str(cfg)]) == 2
    assert "study.toml:2" in capsys.readouterr().err


def test_fit_command_on_a_csv(tmp_path, capsys):
    rows = ["fraction,successes,n,domain"]
    for f, k in [(0.1, 20), (0.25, 22), (0.5, 50), (0.75, 78), (0.9, 80), (1.0, 81)]:
        for rep in range(3):
            rows.append(f"{f},{k + rep},100,finance")
    path = tmp_path / "mine.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["fit", str(path)]) == 0
    out = capsys.readouterr().out
    assert "domain=finance" in out and "threshold" in out.lower()
    path.write_text("fraction,value\n0.1,abc\n")
    assert main(["fit", str(path)]) == 2
    assert "mine.csv:2" in capsys.readouterr().err


def test_plan_warns_before_openais_fine_tuning_cut(tmp_path, capsys, monkeypatch):
    import dataquality_thresholds.backends.openai as oa

    cfg = tmp_path / "study.toml"
    cfg.write_text(
        CONFIG.replace('kind = "stub"', 'kind = "openai"').split("[probe]")[0]
        + '[[domain]]\nname = "finance"\npool = "sample"\neval = "sample"\n'
    )
    monkeypatch.setattr(oa, "wind_down_notice", lambda: "OpenAI stops on 2027-01-06 (test)")
    assert main(["plan", str(cfg)]) == 0
    assert "warning: OpenAI stops on 2027-01-06 (test)" in capsys.readouterr().err
    monkeypatch.setattr(oa, "wind_down_notice", lambda: None)
    assert main(["plan", str(cfg)]) == 0
    assert "warning" not in capsys.readouterr().err
    stub = tmp_path / "stub.toml"
    stub.write_text(CONFIG)
    monkeypatch.setattr(oa, "wind_down_notice", lambda: "never shown for the stub")
    assert main(["plan", str(stub)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_run_asks_before_spending_and_refuses_without_a_terminal(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text(
        CONFIG.replace('kind = "stub"', 'kind = "openai"').split("[probe]")[0]
        + '[[domain]]\nname = "finance"\npool = "sample"\neval = "sample"\n'
    )
    assert main(["run", str(cfg), "--quiet"]) == 2  # pytest's stdin is no terminal
    err = capsys.readouterr().err
    assert "pass --yes" in err and "$" in err
    assert not (tmp_path / "run" / "ledger.sqlite").exists()  # nothing was started


def test_status_fit_and_cancel_on_a_run_directory(tmp_path, capsys):
    cfg = tmp_path / "study.toml"
    cfg.write_text(CONFIG.replace("replicates = 2", "replicates = 1"))
    assert main(["run", str(cfg), "--quiet"]) == 0  # the stub costs $0: no question
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["status", str(run)]) == 0
    status = capsys.readouterr().out
    assert "lock" in status.lower() and "$" in status
    out_csv = tmp_path / "fits.csv"
    assert main(["fit", str(run), "--metric", "domain_score", "--csv", str(out_csv)]) == 0
    assert "finance" in capsys.readouterr().out
    assert out_csv.read_text().splitlines()[0].startswith("domain")
    assert main(["cancel", str(run)]) == 0  # nothing left at the provider
    assert main(["status", str(tmp_path / "nowhere")]) == 2
