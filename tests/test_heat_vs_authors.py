"""`scripts/heat_vs_authors.py` end to end on a 16 × 16 heat grid, with a stand-in peer."""

import argparse
import json
import subprocess
import sys
import textwrap

import pytest

from scripts import heat_vs_authors as hva
from tests.problems.test_heat_problem import TINY

SPEC_ARGS = [arg for key, value in TINY.items() for arg in ("--spec", f"{key}={value}")]

# Prints and writes what the authors' script does (one JSON object per line; `learn --out`
# writes per-step curves), with made-up numbers the test can check against.
FAKE_PEER = textwrap.dedent(
    """
    import json, sys
    args = sys.argv[1:]
    print(json.dumps({"phiflow": "stand-in"}))
    if args[0] == "learn":
        steps = int(args[args.index("--steps") + 1])
        out = args[args.index("--out") + 1]
        results = {
            mode: {"l1_last50": level, "curve": [[i + 1, level, 0.1 * i] for i in range(steps)]}
            for mode, level in (("adam", 2e9), ("sip", 1e9))
        }
        json.dump({"results": results}, open(out, "w"))
    else:
        for mode, ms in (("sip", 200.0), ("adam", 150.0)):
            print(json.dumps({"mode": mode, "batch": 4, "total_ms_median": ms}))
    """
)


def test_first_step_at_uses_the_running_mean():
    curve = [(5, 10.0), (10, 8.0), (15, 2.0), (20, 1.0)]
    assert hva.first_step_at(curve, 5.0, 2) == 15  # mean(8, 2) = 5
    assert hva.first_step_at(curve, 1.4, 2) is None  # mean(2, 1) = 1.5 at best
    assert hva.first_step_at(curve, 10.0, 1) == 5


def test_authors_report_with_a_stand_in_peer(tmp_path):
    peer = tmp_path / "peer.py"
    peer.write_text(FAKE_PEER)
    out = tmp_path / "vs.json"
    argv = ["authors", "--peer-python", sys.executable, "--peer-script", str(peer)]
    argv += ["--seeds", "0", "--steps", "60", "--batch", "4", "--bench-rounds", "1"]
    argv += ["--bench-steps", "10", "--out", str(out), "--workdir", str(tmp_path / "w")]
    argv += ["--bench-float32"]
    hva.main([*argv, *SPEC_ARGS])
    report = json.loads(out.read_text())
    entry = report["per_seed"][0]
    assert entry["authors"] == {"sip": 1e9, "adam": 2e9}
    assert report["authors_learned"] == {"0": "in this run"}
    pg_run = report["ours"]["results"]["inverse-physics"]["runs"][0]
    expected = sum(x_mae for step, _, x_mae in pg_run["curve"] if step > 10) / 10
    assert entry["ours"]["inverse-physics"] == pytest.approx(expected)
    # Any error is below 1e9: the running mean first reaches it once it spans 50 steps.
    assert entry["pg_steps_to_authors_sip"] == 50
    our_ms = report["step_ms_with_data"]["median"]["ours"]["inverse-physics"]
    assert entry["time_to_authors_sip_s"] == {"ours": 50 * our_ms / 1000, "authors": 60 * 0.2}
    assert entry["time_to_accuracy_speedup"] == pytest.approx(12.0 / (0.05 * our_ms))
    ratios = report["step_ratios"]
    assert ratios["pg_to_authors_sip"] == pytest.approx(our_ms / 200.0)
    f32_ms = report["step_ms_with_data"]["median"]["ours"]["inverse-physics/float32"]
    assert ratios["pg/float32_to_authors_sip"] == pytest.approx(f32_ms / 200.0)
    assert report["network_dtype"] in ("float32", "bfloat16")


def test_ablation_rows(tmp_path, monkeypatch):
    rows = (("defaults", {}), ("hard boxes", {"box_edges": "hard"}))
    monkeypatch.setattr(hva, "ROWS", rows)
    out = tmp_path / "ablation.json"
    argv = ["ablation", "--seeds", "0", "--steps", "60", "--batch", "4", "--out", str(out)]
    hva.main([*argv, "--workdir", str(tmp_path / "w"), *SPEC_ARGS])
    report = json.loads(out.read_text())
    assert [row["label"] for row in report["rows"]] == ["defaults", "hard boxes"]
    curve = json.loads((tmp_path / "w" / "row1" / "adjoint" / "seed0" / "curve.json").read_text())
    expected = sum(p["x_mae"] for p in curve if p["step"] > 10) / 10
    assert report["rows"][1]["adjoint"]["0"] == pytest.approx(expected)
    # Rows compute in float32 unless they say otherwise, whatever "auto" is on this machine.
    config = json.loads((tmp_path / "w" / "row0" / "adjoint" / "seed0" / "config.json").read_text())
    assert config["spec"]["network_dtype"] == "float32"
    with pytest.raises(SystemExit):
        hva.main(["ablation", "--steps", "50"])


def test_peer_learn_is_kept_only_when_it_matches(tmp_path):
    kept = {"steps": 60, "batch": 4, "seed": 0, "results": {"sip": {}, "adam": {}}}
    (tmp_path / "peer_seed0.json").write_text(json.dumps(kept))
    args = argparse.Namespace(
        peer_python="false", peer_script="x", workdir=tmp_path, steps=60, batch=4
    )
    assert hva._peer_learn(args, 0)["learned"].startswith("earlier, peer_seed0.json of ")
    args.steps = 300  # no longer the run asked for: runs the peer, here `false`, which fails
    with pytest.raises(subprocess.CalledProcessError):
        hva._peer_learn(args, 0)
