"""The wheel's packages: every package under ballot/ (the layers, found, never listed by hand),
plus templates/, static/ and examples/, which live at the top level (design card) but ship inside
the package as ballot.templates, ballot.static and ballot.examples (pyproject.toml maps them).

pyproject's `packages.find` cannot add packages mapped from other folders, hence this file.
"""

from setuptools import find_packages, setup

SHIPPED_INSIDE = ["ballot.templates", "ballot.templates.admin", "ballot.templates.vote", "ballot.templates.vote.kinds",
                  "ballot.static", "ballot.examples"]

setup(packages=find_packages(include=["ballot", "ballot.*"]) + SHIPPED_INSIDE)
