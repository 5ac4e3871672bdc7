"""KV key names used inside a payment's bucket (kv_store.go, kv_duplicate_payments.go)."""

PAYMENTS_ROOT_BUCKET = b"payments-root-bucket"
PAYMENTS_INDEX_BUCKET = b"payments-index-bucket"
NEXT_PAYMENT_ID_KEY = b"next-payment-id-key"

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
