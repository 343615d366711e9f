"""The role catalog at ``/v1/roles`` (the roles themselves live in ``auth/roles.py``)."""
