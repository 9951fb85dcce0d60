"""torch.hub entry points: ``torch.hub.load("path/to/distill", "student", source="local")`` gives the released
student as a :class:`distill.Detector` (its weights ship in the repository, so nothing is downloaded)."""
dependencies = ["torch", "torchvision", "kornia", "timm", "cv2", "h5py"]


def student(name: str = "default", device: str = "auto", runtime: str = "torch"):
    """A released student, both with descriptors: ``default`` (the most accurate) or ``fast``; ``runtime`` torch,
    onnx or onnx-int8. Non-commercial research use (distilled from the MagicLeap SuperPoint weights)."""
    import distill

    return distill.Detector.pretrained(name, device, runtime)


def superpoint(device: str = "auto"):
    """The SuperPoint teacher (MagicLeap weights, non-commercial research use) as a :class:`distill.Detector`."""
    import distill

    return distill.Detector.superpoint(device)
