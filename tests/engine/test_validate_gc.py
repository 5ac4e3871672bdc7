"""Validation raises the collector's youngest threshold while it compares (the comparing
process allocates and drops a batch's rows by the tens of thousands) and gives the
previous thresholds back afterwards, also when the comparison stops on an error."""

from __future__ import annotations

import gc

import pytest

from migwizard.core.engine import Engine
from migwizard.core.engine import validate as validate_mod


def _seen(monkeypatch, fail: bool = False) -> list:
    seen: list = []
    compare_all = validate_mod._Validation._compare_all

    def spy(self, *a, **k):
        seen.append(gc.get_threshold())
        if fail:
            raise RuntimeError("boom")
        return compare_all(self, *a, **k)

    monkeypatch.setattr(validate_mod._Validation, "_compare_all", spy)
    return seen


@pytest.fixture
def odd_thresholds():
    old = gc.get_threshold()
    gc.set_threshold(555, 7, 9)
    yield (555, 7, 9)
    gc.set_threshold(*old)


def test_raised_while_comparing_and_restored(generated, sqlite_url, monkeypatch, odd_thresholds):
    kv = generated("mixed", 40)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete"
        seen = _seen(monkeypatch)
        assert e.validate().ok
    assert seen == [(validate_mod.GEN0_THRESHOLD, 7, 9)]
    assert gc.get_threshold() == odd_thresholds


def test_restored_when_the_comparison_fails(generated, sqlite_url, monkeypatch, odd_thresholds):
    kv = generated("mixed", 20)
    with Engine(kv, sqlite_url) as e:
        assert e.migrate().outcome == "complete"
        _seen(monkeypatch, fail=True)
        with pytest.raises(RuntimeError, match="boom"):
            e.validate()
    assert gc.get_threshold() == odd_thresholds


def test_a_higher_threshold_is_kept():
    old = gc.get_threshold()
    try:
        gc.set_threshold(validate_mod.GEN0_THRESHOLD * 2, 3, 4)
        with validate_mod.fewer_collections():
            assert gc.get_threshold() == (validate_mod.GEN0_THRESHOLD * 2, 3, 4)
        assert gc.get_threshold() == (validate_mod.GEN0_THRESHOLD * 2, 3, 4)
    finally:
        gc.set_threshold(*old)
