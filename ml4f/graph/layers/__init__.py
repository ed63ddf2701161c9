"""Converters, one module per layer family; importing the package fills the table."""
from ...families import load_family

load_family(__name__, __path__)
