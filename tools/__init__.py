"""Staff and developer tools, run from the Makefile: the held-out evaluation (make heldout),
the topic-file checker (make check), the visitor report (make report), pipeline comparison
(make compare), the benchmark (make bench), the load soak (make soak), the dependency audit
(make audit), and the helpers that start the assistant's servers for them and for the tests.

Nothing in the running assistant imports this package.
"""
