"""Passwords: hashes, policies, and the password operations of a user."""
