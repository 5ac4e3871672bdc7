"""Every KV key name the payments migration reads or writes (kv_store.go,
kv_duplicate_payments.go), defined once: the engine, the KV layer, inspect and
the generator import them from here so a typo cannot split one name into two."""

PAYMENTS_ROOT_BUCKET = b"payments-root-bucket"
PAYMENTS_INDEX_BUCKET = b"payments-index-bucket"
NEXT_PAYMENT_ID_KEY = b"next-payment-id-key"  # the htlcswitch sequencer's bucket (its sequence)
METADATA_BUCKET = b"metadata"
DB_VERSION_KEY = b"dbp"  # metadata/dbp: channeldb schema version, u32 BE

# payments-root-bucket/payments-tombstone = "1" marks a migrated store (LND's PR;
# readers ignore a non-bucket key there). Details go into the store's own metadata.
PAYMENTS_TOMBSTONE_KEY = b"payments-tombstone"
TOMBSTONE_META_KEY = b"migwizard-tombstone"

PAYMENT_SEQUENCE_KEY = b"payment-sequence-key"
PAYMENT_CREATION_INFO_KEY = b"payment-creation-info"
PAYMENT_FAIL_INFO_KEY = b"payment-fail-info"
PAYMENT_HTLCS_BUCKET = b"payment-htlcs-bucket"
PAYMENT_DUPLICATE_BUCKET = b"payment-duplicate-bucket"

HTLC_ATTEMPT_INFO_PREFIX = b"ai"
HTLC_SETTLE_INFO_PREFIX = b"si"
HTLC_FAIL_INFO_PREFIX = b"fi"

# Inside a duplicate sub-bucket (legacy names).
DUPLICATE_ATTEMPT_INFO_KEY = b"payment-attempt-info"
DUPLICATE_SETTLE_INFO_KEY = b"payment-settle-info"
DUPLICATE_FAIL_INFO_KEY = b"payment-fail-info"


def htlc_key(prefix: bytes, attempt_id: int) -> bytes:
    return prefix + attempt_id.to_bytes(8, "big")
