"""Rasa 3.6 graph components. Imported by Rasa inside .venv-rasa (PYTHONPATH = repository root)."""
