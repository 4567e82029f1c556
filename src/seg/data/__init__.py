"""Datasets in the VOCdevkit layout: the real PASCAL VOC reader and download, and the
synthetic VOC-format set that seg generates itself, and plain image folders. Torch-free, all
but ``seg.data.transforms`` (training's torchvision v2 augmentation), which this package does not
import."""

from seg.data.voc import VOCSegmentation, find_voc_dir, read_image, read_mask, write_mask

__all__ = ["VOCSegmentation", "find_voc_dir", "read_image", "read_mask", "write_mask"]
