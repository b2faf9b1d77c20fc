import json
import subprocess
import sys

from dataquality_thresholds import read_manifest, validate_chat_jsonl
from dataquality_thresholds.cli import main


def test_demo_writes_mixtures_and_prints_manifests(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "20", "--fractions", "0.25,0.5,1"]) == 0
    printed = capsys.readouterr().out
    assert "mixture_manifest" in printed and "pool_fingerprint" in printed
    for domain in ("coding", "finance", "health", "legal"):
        files = sorted((out / domain).glob("*.jsonl"))
        assert len(files) == 6  # 3 fractions x 2 corruptions
        for f in files:
            man = read_manifest(f.with_name(f.name.replace(".jsonl", ".manifest.json")))
            report = validate_chat_jsonl(f)
            assert report.sha256 == man["fingerprint"] and report.n_examples == 20
            assert man["counts"]["correct"] == round(20 * man["spec"]["fraction_correct"])


def test_demo_is_deterministic(tmp_path):
    main(["demo", "--out", str(tmp_path / "a"), "--size", "12"])
    main(["demo", "--out", str(tmp_path / "b"), "--size", "12"])
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    assert a and all(
        (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes() for p in a
    )


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
