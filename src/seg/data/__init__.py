"""Labelled data in the layouts users bring (VOC, CVAT, labelme, images/ + masks/, COCO JSON) with
their own class lists, the real PASCAL VOC download, the synthetic VOC-format set that seg
generates itself, and plain image folders. Torch-free, all but ``seg.data.transforms`` (training's
torchvision v2 augmentation), which this package does not import."""

from seg.data.dataset import SegDataset
from seg.data.layouts import VOCSegmentation, dataset_classes, open_dataset
from seg.data.voc import find_voc_dir, read_image, read_mask, write_mask

__all__ = ["SegDataset", "VOCSegmentation", "open_dataset", "dataset_classes", "find_voc_dir", "read_image",
           "read_mask", "write_mask"]
