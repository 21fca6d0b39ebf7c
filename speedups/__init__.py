"""Speed-ups for the Rasa server process, each measured by `make bench` (docs/benchmarks.md).

Installed when Rasa starts the website channel (website/channel.py), never at import.
"""
