"""The NLU pipeline's own components, named in config.yml: the spaCy pipeline built from
code, the featurizer, the intent and topic classifiers, and the guards after them."""
