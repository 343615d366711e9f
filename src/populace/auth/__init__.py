"""Tokens, keys, client secrets and roles: who the caller is and what it may do."""
