"""The hub's interface: the one package every channel (chat actions, Telegram bot, notifier, hotline, staff CLI)
uses to talk to a case-dispatch hub, and that the reference hub (hub/) implements.

- `hubapi.client.HubClient`: the HTTP client (Open311 GeoReport v2 + citybot's extensions);
- `hubapi.models`: the typed filing, case, staff case and feed update;
- `hubapi.errors`: what can go wrong, typed;
- `hubapi.states`: the lifecycle states and their labels;
- `hubapi.roles`: staff roles, levels and who may do what;
- `hubapi.accounts`: the reporter account ids (chat, hotline caller);
- `hubapi.staff_cli`: `citybot staff ...`.
"""
