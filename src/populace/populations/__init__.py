"""Populations: the groups every user of an environment belongs to."""
