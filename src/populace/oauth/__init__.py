"""The authorization server of each environment, mounted at ``/{envID}/as``."""
