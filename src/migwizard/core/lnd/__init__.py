"""lnd's own world: its native database as a target, its KV sequencer, its
files and processes, its directory layout and the node's identity.

Standalone building blocks; preflight, commit, CLI and wizard wire them in.
Nothing here imports the TUI.
"""
