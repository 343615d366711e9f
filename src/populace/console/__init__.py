"""The admin console (``/console``)."""
