"""The Telegram side of citybot: the progress notifier (notifier.py, ratelimit.py, messages.py) on the
job queue (citybot/jobs.py).

A later `bot/app.py` composes one aiogram Router per concern, with services (HubClient, engine, NLU) passed
to the Dispatcher as keyword arguments.
"""
