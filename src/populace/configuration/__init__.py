"""An environment's configuration objects that populations point at: password policies, themes."""
