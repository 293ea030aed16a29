"""Variants timed in turns: each once per round, the first one rotating."""

import pytest

from pg_keras.benchmarks.turns import rotations, time_in_turns


def test_each_variant_is_timed_once_a_round_and_the_first_rotates():
    calls = []
    variants = {name: (lambda name=name: calls.append(name)) for name in ("fft", "cg", "none")}
    seconds = time_in_turns(variants, rounds=4)
    rounds = [calls[3 * k : 3 * k + 3] for k in range(4)]
    assert [r[0] for r in rounds] == ["fft", "cg", "none", "fft"]
    assert all(sorted(r) == ["cg", "fft", "none"] for r in rounds)
    assert {name: len(times) for name, times in seconds.items()} == {"fft": 4, "cg": 4, "none": 4}
    assert all(t >= 0 for times in seconds.values() for t in times)


def test_two_variants_alternate():
    assert list(rotations(2, 3)) == [[0, 1], [1, 0], [0, 1]]


def test_no_variants_is_refused_by_name():
    with pytest.raises(ValueError, match="count=0"):
        list(rotations(0, 1))


def test_no_timed_rounds_is_refused_by_name():  # else the medians fail on empty lists later
    with pytest.raises(ValueError, match="rounds=0"):
        time_in_turns({"fft": lambda: None}, rounds=0)
