"""pytest plugin of shmpipeline (entry point ``pytest11``).

Kept thin: options and hooks only; everything heavy is imported lazily.
(Placeholder until the scenario options land.)
"""
