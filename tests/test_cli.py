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


@pytest.mark.slow  # a whole CLI study (~10-25 s on 2 cores)
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


@pytest.mark.slow  # a whole CLI study (~10-25 s on 2 cores)
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


def _openai_config(tmp_path, fake, *, base_model="gpt-4o-mini-2024-07-18", extra=""):
    return (
        CONFIG.replace('run_dir = "run"', 'run_dir = "runs/x"')
        .replace('kind = "stub"', f'kind = "openai"\nbase_url = "{fake.base_url}"')
        .replace("[backend]", f'{extra}\n[backend]\nbase_model = "{base_model}"')
        .split("[probe]")[0]
        + '[[domain]]\nname = "finance"\npool = "sample"\neval = "sample"\n'
    )


@pytest.mark.parametrize(
    "failure",
    ["no API key", "model name typo", "model unknown to OpenAI", "bad data path", "budget refusal"],
)
@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_run_start_leaves_nothing_behind(
    tmp_path, capsys, monkeypatch, fake, failure, existing
):
    text = _openai_config(tmp_path, fake)
    if failure == "no API key":
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    elif failure == "model name typo":  # no price: the plan refuses it
        text = _openai_config(tmp_path, fake, base_model="gpt-4o-minii")
    elif failure == "model unknown to OpenAI":  # priced like its prefix: the provider refuses
        text = _openai_config(tmp_path, fake, base_model="gpt-4o-mini-2024-07-18x")
        fake.add_fault(method="POST", path=r"/chat/completions", status=404, times=10_000)
    elif failure == "bad data path":
        text = text.replace('pool = "sample"', 'pool = "pairs.jsonl"')
    else:
        text = _openai_config(tmp_path, fake, extra="budget_usd = 0.0001")
    cfg = tmp_path / "study.toml"
    cfg.write_text(text)
    run_dir = tmp_path / "runs" / "x"
    if existing:  # a run directory that existed before stays as it was
        run_dir.mkdir(parents=True)
        (run_dir / "notes.txt").write_text("mine")
    assert main(["run", str(cfg), "--quiet", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "dqt: error:" in err and "Traceback" not in err
    if existing:
        assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]
    else:
        assert not (tmp_path / "runs").exists()
    assert fake.jobs == [] and fake.files == []


def test_a_run_that_got_going_keeps_its_ledger_and_config(tmp_path, capsys, fake):
    cfg = tmp_path / "study.toml"
    cfg.write_text(_openai_config(tmp_path, fake))
    fake.add_fault(method="POST", path=r"/fine_tuning/jobs", status=400, times=10_000)
    assert main(["run", str(cfg), "--quiet", "--yes"]) == 2
    run_dir = tmp_path / "runs" / "x"
    # a job was asked for (and measurements bought): nothing of it may be forgotten
    assert (run_dir / "ledger.sqlite").exists() and (run_dir / "config.toml").exists()


@pytest.mark.slow  # a whole CLI study (~10-25 s on 2 cores)
def test_resume_resolves_relative_data_paths_as_the_original_config(tmp_path, capsys, monkeypatch):
    from dataquality_thresholds import load_sample_examples, write_paired_jsonl

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_paired_jsonl(load_sample_examples("finance"), project / "data" / "pairs.jsonl")
    (project / "study.toml").write_text(
        CONFIG.replace('run_dir = "run"', 'run_dir = "runs/x"')
        .replace('pool = "sample"', 'pool = "data/pairs.jsonl"')
        .replace("replicates = 2", "replicates = 1")
    )
    monkeypatch.chdir(project)
    assert main(["run", "study.toml", "--quiet"]) == 0
    capsys.readouterr()
    run_dir = project / "runs" / "x"
    origin = json.loads((run_dir / "config_origin.json").read_text())
    assert origin["base"] == str(project) and origin["schema"] == "config_origin"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["resume", str(run_dir), "--quiet"]) == 0  # was: runs/x/data/pairs.jsonl: not found
    assert main(["status", str(run_dir)]) == 0
    assert main(["run", str(run_dir / "config.toml"), "--quiet"]) == 0  # the copy itself
    assert "file not found" not in capsys.readouterr().err
    assert json.loads((run_dir / "config_origin.json").read_text()) == origin
