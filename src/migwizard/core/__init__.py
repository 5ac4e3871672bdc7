"""The engine. Nothing under ``core`` may import Textual: the headless CLI must not pay for the TUI."""
