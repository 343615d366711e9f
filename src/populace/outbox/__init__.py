"""An emulator's mailbox: what populace would have delivered (recovery codes)."""
