"""Golden snapshots: saved state of every format version must keep loading and resuming."""
