"""Student notebooks for the parity tests: variants of a lesson's answers, and the runners that
give the lab's verdicts (the notebook run as-is, check cells included) and the grader's points."""
