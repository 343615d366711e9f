"""Worker applications, their client secrets and their role assignments."""
