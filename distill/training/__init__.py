"""Training a student: the loop (:mod:`.trainer`) and its validation by repeatability (:mod:`.validation`).
It sits above the evaluation, whose protocol it validates with; the student's model, losses and data
below it import nothing from the evaluation."""
