"""The wizard's screens. They render engine results and call engine methods from
thread workers; they hold no migration logic."""
