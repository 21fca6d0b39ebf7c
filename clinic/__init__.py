"""The clinic's backend: its settings and clock, its profile (clinic.yml), the booking
requests (readers, store, delivery, retention) and the staff command line.

Plain Python: nothing here imports Rasa, the action server or the website channel, so the
action server, the Rasa server's channel and the staff tools all build on it.
"""
