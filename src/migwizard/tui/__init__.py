"""The Textual wizard (imported lazily by the CLI; the engine never imports this)."""
