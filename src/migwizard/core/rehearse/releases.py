"""The lnd release table (``releases.json``): which behaviour each release has.

The table is data so that a new lnd release is one more row, not new code. Each
behaviour flag names one of the variants :mod:`.simulate` knows; an unknown
flag is refused here, at load time, so a typo in the table cannot silently make
a release look safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

ZERO_ID_RULES = ("insert_zero", "remap")
BLINDED_RULES = ("insert_if_any", "drop_orphan_total_reject_point")
MISSING_DBP_RULES = ("skips_migration_35", "recovers_from_33")


class ReleaseTableError(Exception):
    """``releases.json`` is malformed (a packaging or editing mistake, never user input)."""


@dataclass(frozen=True)
class Release:
    name: str
    tag: str
    commit: str
    is_release: bool
    legacy_zero_attempt_id: str
    blinded_hop_rule: str
    missing_dbp: str
    cites: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class ReleaseTable:
    releases: tuple[Release, ...]
    texts: dict[str, Any]

    @property
    def newest_release(self) -> Release:
        """The last row that is a tagged release (``master`` is not one)."""
        tagged = [r for r in self.releases if r.is_release]
        return tagged[-1]


def _row(raw: dict[str, Any]) -> Release:
    try:
        rel = Release(
            name=str(raw["name"]),
            tag=str(raw["tag"]),
            commit=str(raw["commit"]),
            is_release=bool(raw["is_release"]),
            legacy_zero_attempt_id=str(raw["legacy_zero_attempt_id"]),
            blinded_hop_rule=str(raw["blinded_hop_rule"]),
            missing_dbp=str(raw["missing_dbp"]),
            cites=tuple(str(c) for c in raw["cites"]),
            note=str(raw.get("note", "")),
        )
    except KeyError as e:
        raise ReleaseTableError(f"releases.json row {raw.get('name', '?')!r} lacks {e.args[0]!r}") from None
    for value, allowed, what in (
        (rel.legacy_zero_attempt_id, ZERO_ID_RULES, "legacy_zero_attempt_id"),
        (rel.blinded_hop_rule, BLINDED_RULES, "blinded_hop_rule"),
        (rel.missing_dbp, MISSING_DBP_RULES, "missing_dbp"),
    ):
        if value not in allowed:
            raise ReleaseTableError(f"releases.json row {rel.name!r}: {what}={value!r}, expected one of {allowed}")
    if not rel.cites:
        raise ReleaseTableError(f"releases.json row {rel.name!r} cites nothing")
    return rel


def parse_table(doc: dict[str, Any]) -> ReleaseTable:
    if doc.get("kind") != "migwizard-lnd-releases" or doc.get("version") != 1:
        raise ReleaseTableError("releases.json: not a version-1 migwizard-lnd-releases document")
    rows = tuple(_row(r) for r in doc.get("releases", ()))
    if not any(r.is_release for r in rows):
        raise ReleaseTableError("releases.json lists no tagged release")
    names = [r.name for r in rows]
    if len(set(names)) != len(names):
        raise ReleaseTableError("releases.json repeats a release name")
    return ReleaseTable(rows, dict(doc.get("texts", {})))


def load_releases() -> ReleaseTable:
    """The table shipped with migwizard."""
    text = resources.files(__package__).joinpath("releases.json").read_text(encoding="utf-8")
    return parse_table(json.loads(text))
