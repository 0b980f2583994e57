"""Rasa 3.6 graph components. Imported by Rasa inside .venv-rasa (PYTHONPATH = repository root)."""

from nlu.components.action_retry import install

install()  # custom-action calls survive a killed action-server replica (see action_retry.py)
