"""The detection core, below the student, the evaluation and the API alike: image normalisation
(:mod:`.images`), detectors as dense score maps (:mod:`.detector`; OpenCV's in :mod:`.classical`, the
SuperPoint teacher in :mod:`.superpoint`, all by name in :mod:`.by_name`), their keypoints (max-pool NMS,
threshold, strongest first) and descriptors sampled at them. It imports nothing else of ``distill``."""
