"""Golden KV values copied out of the real regtest bbolt files (spec §8.1-§8.2).

Extracted once by scanning the raw fixture bytes for the keys; kept here as hex
so the codec is tested even where ../shared/fixtures is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"

HASH = bytes.fromhex("c25cd89a329da7890d14af9a5d020ca6912e02004cc4f94f431b1dc50dd77ad3")
PAYREQ = (
    b"lnbcrt1230n1pntqdthpp5cfwd3x3jnkncjrg547d96qsv56gjuqsqfnz0jn6rrvwu2rwh0tfsdqqcqzzsxqr23ssp52h3wescgqv5zszme7"
    b"lytzzxj3c28m5ys8cqaup5a0zktgzyq86gq9qyyssqrp4054r6laefgdzaqe89ch7mmz92xf845z88xtjp06l6zmythd7hur6f3rpw6nxfn"
    b"k4fp3l3lwudzc7cy47w7lgnvs5q9pysjp27mvspcwa9c9"
)

CAROL_CREATION_INFO = bytes.fromhex(
    "c25cd89a329da7890d14af9a5d020ca6912e02004cc4f94f431b1dc50dd77ad3000000000001e07817e8b38e748affdd00000104"
) + PAYREQ
CAROL_AI_1 = bytes.fromhex(
    "4e6774ffcec658c6e55ebc04ea3b295b8d3d0a3547e04036c7a1a7183b1fb68d0000055d000000000001e078210354187eab82d80f42"
    "da8a76b5e4153d12ef568fcefe97d708e65778781ff6b8ac000000012102e69c87e9273db0f34f11121631a743863beb55ab9ecc1ee6"
    "021d3320715c0b620000d500000100000000055d000000000001e078000000000100000000000000082355e2ecc3080328280b79f7c8"
    "b108d28e147dd0903e01de069d78acb408803e9001e07817e8b38e757c8840c25cd89a329da7890d14af9a5d020ca6912e02004cc4f9"
    "4f431b1dc50dd77ad3"
)
CAROL_SI_1 = bytes.fromhex("9b6ae739b15a95b24b91045f460cbe913a0a3c7c9afa4e6d526eb12fb65625ac17e8b38e7e890489")
CAROL_SEQUENCE = bytes.fromhex("0000000000000003")
CAROL_INDEX_VALUE = b"\x00\x20" + HASH

DAVE_CREATION_INFO = bytes.fromhex(
    "c25cd89a329da7890d14af9a5d020ca6912e02004cc4f94f431b1dc50dd77ad3000000000001e07817e8b363a302f3ac00000104"
) + PAYREQ
DAVE_SEQUENCE = bytes.fromhex("0000000000000001")
DAVE_FAIL_INFO = b"\x04"

CAROL_TREE = {
    b"payment-sequence-key": CAROL_SEQUENCE,
    b"payment-creation-info": CAROL_CREATION_INFO,
    b"payment-htlcs-bucket": {
        b"ai" + (1).to_bytes(8, "big"): CAROL_AI_1,
        b"si" + (1).to_bytes(8, "big"): CAROL_SI_1,
    },
}
DAVE_TREE = {
    b"payment-sequence-key": DAVE_SEQUENCE,
    b"payment-creation-info": DAVE_CREATION_INFO,
    b"payment-fail-info": DAVE_FAIL_INFO,
}


def fixture_path(name: str) -> Path:
    """The fixture file, or skip the test with the reason it cannot run."""
    if not FIXTURES.is_dir():
        pytest.skip(f"fixtures directory {FIXTURES} is absent")
    p = FIXTURES / name
    if not p.is_file():
        pytest.skip(f"fixture {p} is absent")
    return p


def bbolt_reader():
    """migwizard.core.kv.bbolt.BboltReader, or skip if that module is not there yet."""
    try:
        from migwizard.core.kv.bbolt import BboltReader
    except ImportError as e:  # written concurrently by another engineer
        pytest.skip(f"bbolt reader not available: {e}")
    return BboltReader
