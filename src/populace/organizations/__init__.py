"""The organization and its licenses (one organization per deployment)."""
