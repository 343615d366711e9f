"""populace's own control API (``/_populace``): health, reset and snapshots."""
