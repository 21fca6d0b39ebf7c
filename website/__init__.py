"""The website channel (a Rasa input channel) and, later, the chat widget it serves."""
