"""PNG previews of a label store: image with keypoints, heatmap, variance and valid-view count."""
from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from labels.images import ImageError, read_grey, resize_image  # noqa: E402
from labels.store import ImageLabels, StoreReader  # noqa: E402


def labelled_image(labels: ImageLabels) -> np.ndarray | None:
    """The image the labels were made on: the store's copy, else the source file resized, if readable."""
    if labels.image is not None:
        return labels.image
    try:
        return resize_image(read_grey(labels.source_path), labels.heatmap.shape)
    except ImageError:
        return None


def render(key: str, labels: ImageLabels, path: Path) -> None:
    image = labelled_image(labels)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), constrained_layout=True)
    panels = [
        ("image + %d keypoints" % len(labels.scores), image if image is not None else np.zeros_like(labels.heatmap), "gray"),
        ("heatmap (HA mean)", labels.heatmap.astype(np.float32), "magma"),
        ("variance (teacher uncertainty)", labels.variance.astype(np.float32), "viridis"),
        ("valid views", labels.count.astype(np.float32), "cividis"),
    ]
    for ax, (title, data, cmap) in zip(axes, panels):
        shown = ax.imshow(data, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        if cmap != "gray":
            fig.colorbar(shown, ax=ax, fraction=0.035)
    axes[0].scatter(labels.keypoints[:, 0], labels.keypoints[:, 1], s=6, c="lime", linewidths=0)
    fig.suptitle(f"{key}  {Path(labels.source_path).name}", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    if labels.pair is not None and labels.image is not None:
        render_matches(key, labels, path.with_name(f"{path.stem}-matches.png"))


def render_matches(key: str, labels: ImageLabels, path: Path) -> None:
    """The image beside its warped copy, consistent matches green, inconsistent red."""
    pair = labels.pair
    h, w = labels.image.shape
    warped = cv2.warpPerspective(labels.image, pair.homography, (w, h))
    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    ax.imshow(np.hstack([labels.image, warped]), cmap="gray")
    for (i, j), good in zip(pair.matches, pair.consistent):
        (x0, y0), (x1, y1) = pair.keypoints0[i], pair.keypoints1[j]
        ax.plot([x0, x1 + w], [y0, y1], color="lime" if good else "red", linewidth=0.6)
    ax.set_title(f"{key}: {int(pair.consistent.sum())}/{len(pair.matches)} matches consistent with the homography", fontsize=9)
    ax.axis("off")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_previews(index: Path, out_dir: Path, limit: int = 8) -> list[Path]:
    reader = StoreReader(index)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key in reader.keys[:limit]:
        labels = reader[key]
        path = out_dir / f"{Path(labels.source_path).stem.replace(':', '_')}-{key[:8]}.png"
        render(key, labels, path)
        written.append(path)
    reader.close()
    return written
