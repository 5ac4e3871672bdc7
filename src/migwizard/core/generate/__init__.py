"""Deterministic synthetic LND payment stores (for tests, demos and benchmarks).

``generate_store(kv_dir, payments=N, seed=1, profile="mixed")`` writes LND's
exact KV layout (through the codec) into a new migwizard LMDB store. Profiles
are documented in :mod:`.profiles`; corrupting an existing store for
"the engine must name payment, key and offset" tests is :mod:`.corrupt`.
"""

from .builders import AttemptIdAllocator, Builder, Generated, PaymentSeqAllocator, scid, scid_parts
from .corrupt import CorruptionResult, corrupt_payment_value
from .profiles import (
    EDGE_CASES,
    MIXED_KINDS,
    MIXED_STATUS_RANGES,
    PROFILES,
    corrupt_cases,
    edge_payments,
    legacy_zero_id_payments,
    mixed_payment,
    reject_cases,
)
from .writer import GenerateResult, generate_store, iter_profile, payment_tree, summarize

__all__ = [
    "AttemptIdAllocator",
    "Builder",
    "CorruptionResult",
    "EDGE_CASES",
    "GenerateResult",
    "Generated",
    "MIXED_KINDS",
    "MIXED_STATUS_RANGES",
    "PROFILES",
    "PaymentSeqAllocator",
    "corrupt_cases",
    "corrupt_payment_value",
    "edge_payments",
    "generate_store",
    "iter_profile",
    "legacy_zero_id_payments",
    "mixed_payment",
    "payment_tree",
    "reject_cases",
    "scid",
    "scid_parts",
    "summarize",
]
