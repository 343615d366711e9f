"""Environments: the tenant boundary. Everything else lives inside one."""
