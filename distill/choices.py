"""What the command line offers and shows, apart from the code behind it (importing this costs no torch,
so ``distill --help`` answers at once): detector names, matching methods, runtimes, the synthetic evaluation's seed."""
from teachers.config import LIGHTGLUE_FILTER_THRESHOLD  # torch-free

CLASSICAL = ["fast", "harris", "shi", "sift", "orb"]
AVAILABLE = ["superpoint", "superpoint-ha", *CLASSICAL, "random"]  # detectors by name (distill.detection.by_name)
METHODS = ["superpoint+lightglue", "superpoint+mnn", "sift+ratio", "orb+hamming"]  # extractor+matcher (distill.eval.matching)
STUDENT_METHODS = ["student+lightglue", "student+mnn"]
MATCHERS = ["lightglue", "mnn"]  # of distill match and distill.Matcher
RUNTIMES = ["torch", "onnx", "onnx-int8"]  # of students: PyTorch, ONNX Runtime, ONNX Runtime in int8
# the working resolution by default (API, distill detect, the full-resolution protocol): an image whose long side
# exceeds it is detected at that long side and its points mapped back; chosen on validation (docs/experiments.md)
RESIZE = 512
# the working resolution of matching (distill.match, distill match, eval matching): LightGlue's extractors' default; at
# 480x640 a working resolution of 512 lowered matching for the students and SuperPoint alike (docs/experiments.md)
MATCH_RESIZE = 1024
# LightGlue keeps a mutual match above this confidence: its own default, for every detector that carries no threshold
# of its own (a release's, chosen on validation photos, or one a checkpoint stores: docs/matching.md)
FILTER_THRESHOLD = LIGHTGLUE_FILTER_THRESHOLD
# multi-scale detection when asked for (Detector scales=, distill detect --multiscale): the working resolution and
# long sides of 400, 320 and 256 px, score maps averaged before NMS (chosen on validation photos, docs/experiments.md);
# 2.25x the pixels
MULTISCALE = (1.0, 0.78, 0.625, 0.5)
EVAL_SEED = 1_000_003  # of the synthetic shapes evaluation: never the training seed, evaluation images are not training images
