"""Users: members of exactly one population of their environment."""
