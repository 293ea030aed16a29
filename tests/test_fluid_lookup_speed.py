"""The fluid lookup A/B script runs end to end on a 16 × 16 grid, 2 steps."""

import json

from scripts import fluid_lookup_speed
from tests.test_fluid_scripts import SPEC_ARGS


def test_lookup_speed_script_reports_both_lookups_agreeing(tmp_path):
    out = tmp_path / "lookup.json"
    argv = ["--batch", "2", "--repeats", "2", "--out", str(out), *SPEC_ARGS]
    assert fluid_lookup_speed.main(argv) == 0
    report = json.loads(out.read_text())
    for name in ("corner_rows", "four_gathers"):
        assert report["simulation_ms"][name]["min"] > 0
    assert report["max_marker_difference"]["float64"] < 1e-10
    assert report["speedup"] > 0
