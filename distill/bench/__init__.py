"""The product's benchmarks, as ``distill bench`` commands: students against the teacher on HPatches
(:mod:`.students`), speed end to end through ``distill.Detector`` in every runtime (:mod:`.speed`), and the
labelling cost against its floor (:mod:`.labelling`). Each writes ``results.json`` and ``results.md``."""
