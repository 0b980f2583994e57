"""citybot's Chinese NLU: Rasa custom components (run in .venv-rasa), the NLU worker and the app-side client."""
