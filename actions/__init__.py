"""The clinic assistant's action server: `rasa run actions --actions actions`.

One module per concern; action classes stay thin over plain functions that are
tested on their own.
"""
