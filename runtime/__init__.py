"""The Rasa runtime: how this project starts, trains and extends Rasa.

``python -m runtime.serve`` starts Rasa (``make run``, ``make shell``, the tests, the bench,
the soak and the cluster all go through it) after checking and installing the replacements
of Rasa internals below; ``python -m runtime.train`` trains (``make train``). The
conversation store (endpoints.yml) and the rule policy (config.yml) are named in Rasa's own
configuration files. Each replacement is tested against the Rasa code it stands in for.
"""
