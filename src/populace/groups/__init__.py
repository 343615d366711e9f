"""Groups of users: direct and dynamic members, nesting, memberships."""
