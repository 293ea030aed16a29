"""scripts/mutants.py and its parts: the mutants it makes, that a mutant never outlives its
run, that the cache is keyed by what the outcome depends on, and the score (no TensorFlow run
here)."""

import ast
import json

import pytest

from scripts import _mutants_make, _mutants_report, _mutants_run, mutants

SOURCE = '''"""Doc."""

__all__ = ["f"]


def f(x: int, reduction: str = "mean") -> int:
    """Doc."""
    if reduction == "sum":
        raise ValueError(f"no {x + 1}")
    total = x * 2 + 1
    if not x:
        print(x)
    return total if x > 0 and x < 9 else -x
'''


def test_mutants_cover_operators_comparisons_constants_and_calls_but_not_messages():
    found = _mutants_make.mutants(SOURCE)
    descriptions = {m.description for m in found}
    assert "x * 2 -> x / 2" in descriptions
    assert "x * 2 + 1 -> x * 2 - 1" in descriptions
    assert "reduction == 'sum' -> reduction != 'sum'" in descriptions
    assert "'sum' -> 'XXsum'" in descriptions
    assert "x > 0 -> x >= 0" in descriptions and "x < 9 -> x <= 9" in descriptions
    assert "x > 0 and x < 9 -> x > 0 or x < 9" in descriptions
    assert "print(x) -> pass" in descriptions and "-x -> x" in descriptions
    assert "not x -> x" in descriptions
    # Nothing from the docstrings, __all__, the raise's message, or the annotations; the
    # default "mean" is no comparison operand, so it is left too.
    assert not any("Doc" in d or "'f'" in d or "no {" in d or "'mean'" in d for d in descriptions)
    assert len({(m.index, m.kind) for m in found}) == len(found)


def test_each_mutant_changes_exactly_its_node_and_still_compiles():
    original = ast.dump(ast.parse(SOURCE))
    for mutant in _mutants_make.mutants(SOURCE):
        text = _mutants_make.mutated_source(SOURCE, mutant)
        compile(text, "m.py", "exec")
        assert ast.dump(ast.parse(text)) != original, mutant
        before, after = mutant.description.split(" -> ")
        assert after.split(" ...")[0] in text or after == "pass"


def test_the_file_is_restored_when_the_run_fails(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(SOURCE)
    mtime = module.stat().st_mtime_ns
    with pytest.raises(RuntimeError), _mutants_run.mutant_in_place(module, "broken = True\n"):
        assert module.read_text() == "broken = True\n"
        assert module.stat().st_mtime_ns != mtime  # no stale bytecode of the original
        raise RuntimeError("the test run crashed")
    assert module.read_text() == SOURCE and module.stat().st_mtime_ns == mtime


def test_the_cache_key_follows_the_module_the_tests_and_the_mutation(tmp_path):
    (tmp_path / "t.py").write_text("def test(): pass\n")
    first, second = _mutants_make.mutants(SOURCE)[:2]
    key = _mutants_report.cache_key(SOURCE, ["t.py"], first, tmp_path)
    assert key == _mutants_report.cache_key(SOURCE, ["t.py"], first, tmp_path)
    assert key != _mutants_report.cache_key(SOURCE, ["t.py"], second, tmp_path)
    assert key != _mutants_report.cache_key(SOURCE + "\n", ["t.py"], first, tmp_path)
    (tmp_path / "t.py").write_text("def test(): assert True\n")
    assert key != _mutants_report.cache_key(SOURCE, ["t.py"], first, tmp_path)


def test_the_score_leaves_out_explained_survivors(tmp_path):
    results = [
        {"outcome": "killed", "equivalence_key": "a"},
        {"outcome": "killed", "equivalence_key": "b"},
        {"outcome": "survived", "equivalence_key": "c"},
        {"outcome": "survived", "equivalence_key": "d"},
    ]
    summary = _mutants_report.summarise(
        "m.py", results, {"c": "x > 0.68 and x >= 0.68 differ at one point"}
    )
    assert (summary["mutants"], summary["killed"], summary["survived"]) == (4, 2, 2)
    assert summary["equivalent"] == 1 and summary["score"] == pytest.approx(2 / 3, abs=1e-4)
    assert [s["equivalent"] for s in summary["survivors"]] == [
        "x > 0.68 and x >= 0.68 differ at one point",
        None,
    ]
    reasons = tmp_path / "equivalent.json"
    reasons.write_text(json.dumps({"c": "why"}))
    assert _mutants_report.equivalent_reasons(reasons) == {"c": "why"}


def test_rescore_counts_a_reason_written_after_the_run(tmp_path):
    results = [
        {"outcome": "killed", "equivalence_key": "a"},
        {"outcome": "survived", "equivalence_key": "b"},
    ]
    report = tmp_path / "mutants.json"
    entry = {**_mutants_report.summarise("m.py", results, {}), "results": results}
    report.write_text(json.dumps({"modules": {"m.py": entry}}))
    mutants.rescore(report, {"b": "the same program"})
    data = json.loads(report.read_text())
    assert data["modules"]["m.py"]["equivalent"] == 1
    assert data["scores"]["m"]["score"] == 1.0 and data["scores"]["m"]["survived"] == 1


def test_scores_name_each_module_without_its_suffix_for_dotted_paths():
    entry = {"planned": 3, "mutants": 2, "killed": 1, "survived": 1, "equivalent": 0}
    summary = _mutants_report.scores({"pkg/m.py": {**entry, "score": 0.5, "results": []}})
    assert summary == {"pkg/m": {**entry, "score": 0.5}}


def test_every_mapped_module_and_test_file_exists():
    for module, tests in mutants.TESTS.items():
        assert (mutants.ROOT / module).is_file(), module
        assert tests and all((mutants.ROOT / t).is_file() for t in tests), module


def test_kills_by_timeout_are_rerun_on_request_and_other_outcomes_reused():
    results = [
        {"key": "k1", "mutant_key": "m1", "outcome": "killed", "detail": "test_x"},
        {"key": "k2", "mutant_key": "m2", "outcome": "killed", "detail": "timeout after 344 s"},
        {"key": "k3", "mutant_key": "m3", "outcome": "survived", "detail": ""},
    ]
    data = {"modules": {"m.py": {"results": results}}}
    assert set(_mutants_report.reusable(data, "m.py", fresh=False)) == {
        "k1",
        "k2",
        "k3",
        "m1",
        "m2",
    }
    retried = _mutants_report.reusable(data, "m.py", fresh=False, retry_timeouts=True)
    assert set(retried) == {"k1", "k3", "m1"}
    assert _mutants_report.reusable(data, "m.py", fresh=True) == {}
