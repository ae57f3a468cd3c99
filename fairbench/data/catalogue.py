"""Wire the settings that do not live in the registry's own code into the data layer.

The registry (:mod:`fairbench.data.registry`) and the pipeline (:mod:`fairbench.data.prepared`,
:mod:`fairbench.data.splits`) import none of the modules that add settings; this module, above all
of them, hands them over when it is imported:

* the registry's loaders (:func:`fairbench.data.registry.add_loader`), run before every look-up, in
  this order: the declared specs (:func:`fairbench.data.declare.load_declared`: the shipped ones
  once, the user's whenever ``$FAIRBENCH_DATA_SPECS`` changes), then the image settings
  (:func:`fairbench.data.images.register_images`, once);
* the pipeline's finder of image settings (:func:`fairbench.data.handlers.add_finder`), which
  prepares and splits them.

The package ``fairbench.data`` imports this module, and Python runs a package's ``__init__`` before
any of its modules, so every import of the data layer installs them.
"""

from __future__ import annotations

from fairbench.data.declare import load_declared
from fairbench.data.handlers import add_finder
from fairbench.data.images import find_image_handler, register_images
from fairbench.data.registry import add_loader


def install() -> None:
    """Hand the loaders to the registry and the image finder to the pipeline (again: a no-op)."""
    add_loader(load_declared)
    add_loader(register_images)
    add_finder(find_image_handler)


install()
