"""Import every method so that each registers itself in METHODS."""

import methods.ours  # noqa: F401
import methods.convlstm_ae  # noqa: F401
import methods.memae  # noqa: F401
import methods.ganomaly  # noqa: F401
import methods.reference  # noqa: F401
