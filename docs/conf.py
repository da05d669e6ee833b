"""Sphinx configuration for sigcy's documentation (``sphinx-build -W docs docs/_build``)."""
project = "sigcy"
author = "the sigcy developers"
copyright = "2026, the sigcy developers"

import sigcy  # noqa: E402  (the installed package: the docs describe what is built)

version = release = sigcy.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "scipy": ("https://docs.scipy.org/doc/scipy/", None),
}
html_theme = "alabaster"
exclude_patterns = ["_build"]
