"""Import every method so that each registers itself in METHODS."""

import methods.ours  # noqa: F401
