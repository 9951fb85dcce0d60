"""The student detector: a timm backbone, a feature pyramid and a keypoint head."""
