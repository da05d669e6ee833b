"""Sphinx configuration for sigcy's documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors) from any
directory where ``import sigcy`` finds the *installed* package: the source tree has no
compiled modules, so this file never puts the repository root on ``sys.path``.
``.ci/docs`` is what CI runs.
"""
import os
import warnings

import matplotlib

matplotlib.use("Agg")  # no display: the gallery's figures are written to files

import sigcy  # noqa: E402  (the installed package: the docs describe what is built)
from threadpoolctl import threadpool_limits  # noqa: E402

# The gallery runs in this process.  One OpenMP/BLAS thread: sigcy's results are the same
# bits for any thread count, and on a shared 2-core machine two threads can be many times
# slower than one (a thread waits at a barrier for a preempted partner).
threadpool_limits(limits=1)

project = "sigcy"
author = "the sigcy developers"
copyright = "2026, the sigcy developers"
version = release = sigcy.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# Cross-links to numpy/scipy/scikit-learn need their inventories from the network; CI and
# the development machines have none, and a failed fetch is a warning (an error under -W).
# Opt in with SIGCY_DOCS_INTERSPHINX=1.
if os.environ.get("SIGCY_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
    }

templates_path = ["_templates"]
exclude_patterns = ["_build", "**/sg_execution_times.rst"]

# -- API reference -----------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- gallery -----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    # an example that raises fails the build
    "abort_on_example_error": True,
    "show_memory": False,
}

# Examples run in this process: their ConvergenceWarnings etc. are printed, not raised.
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------------------
# pydata-sphinx-theme: the look of the numpy, SciPy, scikit-learn and pandas documentation.
html_theme = "pydata_sphinx_theme"
html_title = f"sigcy {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# No left sidebar on the pages without sub-pages: the text and its code get the width.
html_sidebars = {
    "index": [],
    "why": [],
    "performance": [],
    "scaling": [],
    "wheels": [],
    "dev/tuning": [],
    "auto_examples/index": [],
}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["sigcy.css"]   # code blocks wrap instead of scrolling sideways


# -- numpy ufuncs ------------------------------------------------------------------------
# sigcy.sigmoid & co. are numpy.ufunc objects, not functions: autodoc classifies them as
# module data.  Their pages use autofunction (templates: _templates/autosummary/ufunc.rst),
# which reads the signature numpy puts on the docstring's first line.  In the autosummary
# table they are still "data", for which autodoc (Sphinx 9) keeps no signature slot, and
# numpydoc's signature hook would fill the missing slot ("list assignment index out of
# range"); answering first with a non-signature result leaves the table row without one.
def _ufunc_table_signature(app, what, name, obj, options, signature, return_annotation):
    import numpy as np

    if what == "data" and isinstance(obj, np.ufunc):
        return (None, None)
    return None


def setup(app):
    app.connect("autodoc-process-signature", _ufunc_table_signature, priority=100)
