"""Kept for tools and users that call setup.py directly; configuration lives in pyproject.toml."""
from setuptools import setup

setup()
