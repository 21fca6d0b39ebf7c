"""Speed-ups of issue 7, each measured by `make bench` (docs/benchmarks.md) and each tested
against the Rasa code it stands in for (tests/test_speedups.py and the tests named in each module).

- Components in config.yml: count_vectors (the featurizers), rule_policy (the rules).
- In endpoints.yml: tracker_store (the conversation store).
- Installed when Rasa starts the website channel (website/channel.py), never at import:
  action_results (the check of the action server's answers), graph_runner (running the model).
- Training (`make train`): training (an edited answer retrains no NLU component).
"""
