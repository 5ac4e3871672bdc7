"""migwizard: move LND payment history from a KV store into LND's native SQL schema."""

__version__ = "0.1.0"
