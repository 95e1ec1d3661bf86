"""Build the optional C speedups; a missing compiler skips them and keeps pure Python."""

import os

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("LONGWIRE_NO_EXTENSIONS") != "1":
    ext_modules.append(
        Extension(
            "longwire._speedups",
            sources=["src/longwire/_speedups.c"],
            optional=True,  # a failed compile is a warning, not a failed install
        )
    )

setup(ext_modules=ext_modules)
