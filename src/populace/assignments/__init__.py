"""Role assignments: the roles an application, a user or a group holds, and where."""
