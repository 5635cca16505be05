"""The evaluation scores what the geometry says: ground-truth maps of real Jacquard scenes, fed through
``evaluate_network``'s decode + metric path in place of a network, score (close to) 100 %; the same maps
shifted by k pixels score the IoU of a rectangle shifted by k, worked out here by hand."""
import math

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from grasp_perception.datasets import GraspDataset, GraspSample, grasps_to_array
from grasp_perception.data_setup import dataset_for_card
from grasp_perception.evaluation import evaluate_network
from grasp_perception.grasp import ImageGrasp
from grasp_perception.maps import grasp_maps
from grasp_perception.model_io import ModelCard

SIZE, MAX_W = 300, 150.0


class MapsBackend:
    """A stand-in for an inference backend (numpy in, maps out) that returns given maps, image by image
    in dataset order (evaluate_network does not shuffle)."""

    def __init__(self, maps):
        self.maps, self.next = maps, 0

    def __call__(self, x):
        batch = self.maps[self.next:self.next + len(x)]
        self.next += len(x)
        return tuple(np.stack([m[i] for m in batch]) for i in range(4))


class OneGraspEach(Dataset):
    """Items as GraspDataset gives them, with one ground-truth grasp per image (the backend ignores x)."""

    def __init__(self, grasps):
        self.grasps_ = grasps

    def __len__(self):
        return len(self.grasps_)

    def __getitem__(self, k):
        return {"x": torch.zeros(1, SIZE, SIZE), "index": k, "grasps": grasps_to_array([self.grasps_[k]])}


@pytest.fixture(scope="module")
def card():
    return ModelCard(name="oracle", architecture="ggcnn2", inputs="depth", n_bins=1, input_size=SIZE,
                     crop="resize", max_width_px=MAX_W)


@pytest.fixture
def jacquard(card, jacquard_root):
    return dataset_for_card(card, "jacquard", jacquard_root, "perfect")  # the evaluation CLI's dataset


def evaluate(card, dataset, maps, on_image=None):
    return evaluate_network(MapsBackend(maps), dataset, max_width_px=card.max_width_px,
                            postprocess=card.postprocess, batch_size=3, on_image=on_image)


def test_ground_truth_maps_score_full_marks(card, jacquard):
    maps = [grasp_maps(jacquard.grasps(k), (SIZE, SIZE), max_width=MAX_W, kind="strong")
            for k in range(len(jacquard))]
    s = evaluate(card, jacquard, maps)
    assert (s["n_images"], s["n_no_gt"]) == (8, 0)
    assert s["iou_0.25"] == 1.0 and s["iou_0.30"] == 1.0
    assert s["iou_avg"] > 0.8


def _overlap(c1, l1, c2, l2):
    """Length of the overlap of the intervals centred at c1, c2 of lengths l1, l2."""
    return max(0.0, min(c1 + l1 / 2, c2 + l2 / 2) - max(c1 - l1 / 2, c2 - l2 / 2))


def iou_of_parallel_rectangles(gt: ImageGrasp, p: ImageGrasp) -> float:
    """IoU of two rectangles with the same angle: in the ground truth's own frame (opening axis ``a``, jaw
    axis ``b``) both are axis-aligned, so the intersection is a rectangle of the two interval overlaps."""
    a = np.array([math.cos(gt.angle), -math.sin(gt.angle)])
    b = np.array([math.sin(gt.angle), math.cos(gt.angle)])
    d = np.array([p.u - gt.u, p.v - gt.v])
    inter = _overlap(0.0, gt.width, float(d @ a), p.width) * _overlap(0.0, gt.jaw, float(d @ b), p.jaw)
    return inter / (gt.width * gt.jaw + p.width * p.jaw - inter)


def shifted(maps, du: int, dv: int):
    """The maps moved by (du, dv) >= 0 pixels, zero filled (no wrap-around)."""
    out = []
    for m in maps:
        s = np.zeros_like(m)
        s[..., dv:, du:] = m[..., :m.shape[-2] - dv, :m.shape[-1] - du]
        out.append(s)
    return out


@pytest.mark.parametrize("axis", ["u", "v"])
def test_shifted_maps_score_the_iou_of_the_shifted_rectangle(card, jacquard, axis):
    # One real grasp per scene (the largest), so the expected IoU has a closed form.
    gts = [max(jacquard.grasps(k), key=lambda g: g.width * g.jaw) for k in range(len(jacquard))]
    maps = [grasp_maps([g], (SIZE, SIZE), max_width=MAX_W, kind="strong") for g in gts]
    dataset = OneGraspEach(gts)
    decoded = []
    evaluate(card, dataset, maps, on_image=lambda k, preds, gt, m: decoded.append(preds[0]))
    assert all(p.angle == pytest.approx(g.angle, abs=1e-6) and p.width == pytest.approx(g.width, abs=1e-3)
               for p, g in zip(decoded, gts))

    def expected(k: int) -> list[float]:
        du, dv = (k, 0) if axis == "u" else (0, k)
        return [iou_of_parallel_rectangles(g, ImageGrasp(p.u + du, p.v + dv, p.angle, p.width, p.jaw))
                for g, p in zip(gts, decoded)]

    for k in (0, 5, 12, 20, 30):
        du, dv = (k, 0) if axis == "u" else (0, k)
        s = evaluate(card, dataset, [shifted(m, du, dv) for m in maps])
        ious = expected(k)
        assert s["iou_avg"] == pytest.approx(np.mean(ious), abs=1e-6), k
        for t in (0.25, 0.5, 0.75):
            assert s[f"iou_{t:.2f}"] == np.mean([iou > t for iou in ious]), (k, t)

    # Scene by scene: the match at IoU > 0.25 is lost exactly at the first shift the geometry says.
    for i in range(len(gts)):
        flip = next(k for k in range(1, SIZE) if expected(k)[i] <= 0.25)
        for k, success in ((flip - 1, 1.0), (flip, 0.0)):
            du, dv = (k, 0) if axis == "u" else (0, k)
            s = evaluate(card, OneGraspEach(gts[i:i + 1]), [shifted(m, du, dv) for m in maps[i:i + 1]])
            assert s["iou_0.25"] == success, (i, k, expected(k)[i])


class _Scenes:
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def load(self, i):
        return self.samples[i]


def test_images_without_ground_truth_in_the_input_are_counted_not_failed(card):
    """A centre crop can leave an image's every grasp outside the network input: that image is reported
    in ``n_no_gt``, and the scores are over the images that could be scored."""
    depth = np.full((200, 200), 0.6, np.float32)
    inside = ImageGrasp(u=100.0, v=100.0, angle=0.2, width=30.0, jaw=15.0)
    corner = ImageGrasp(u=10.0, v=10.0, angle=0.2, width=30.0, jaw=15.0)  # outside the centred 96 window
    scenes = _Scenes([GraspSample(None, depth, None, [inside], sample_id="a"),
                      GraspSample(None, depth, None, [corner], sample_id="b"),
                      GraspSample(None, depth, None, [inside], sample_id="c")])
    dataset = GraspDataset(scenes, input_size=96, channels="depth", crop="center")
    assert [len(dataset.grasps(k)) for k in range(3)] == [1, 0, 1]
    maps = [grasp_maps(dataset.grasps(k), (96, 96), max_width=MAX_W, kind="strong") for k in range(3)]
    s = evaluate(card, dataset, maps)
    assert (s["n_images"], s["n_no_gt"]) == (2, 1)
    assert s["iou_0.25"] == 1.0  # scored as a failure, the empty image would have made this 2/3
