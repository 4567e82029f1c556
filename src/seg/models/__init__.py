"""The model registry: the four architectures of the seed write-up and torchvision's pretrained
VOC-class models.

Contract for every model: ``forward(x: float32[N,3,H,W], normalised with ImageNet mean/std)
-> logits float32[N,num_classes,H,W]`` at exactly the input's H and W, for any N >= 1 and
H, W >= 32 (odd sizes included). ``SegModel.forward`` (``_blocks.py``) owns it: it pads the input
to a multiple of the architecture's stride with shape arithmetic that survives ONNX export with
dynamic H/W, runs the architecture's ``logits``, and crops them back; torchvision's models
(``pretrained.py``) upsample to the input's size themselves.
"""

from seg.models._registry import MODELS, check_model_name, get_model, register_model

# Importing the architecture modules fills MODELS (in this order: the write-up's order).
from seg.models import baseline_fcn, simple_unet, resnet_fcn, unet  # noqa: E402,F401  isort: skip
# Then torchvision's pretrained VOC-class models (seg.models.pretrained), after the seed's four.
from seg.models import pretrained  # noqa: E402,F401  isort: skip

# The seed write-up's four, which seg trains from scratch: the demo's, `seg export --all`'s and
# the training benchmarks' set.
SEED_MODELS: tuple[str, ...] = ("baseline_fcn", "simple_unet", "resnet_fcn", "unet")
from seg.models.summary import count_parameters, model_flops  # noqa: E402
from seg.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint  # noqa: E402

__all__ = [
    "MODELS", "SEED_MODELS", "get_model", "register_model", "check_model_name", "count_parameters", "model_flops",
    "load_checkpoint", "read_checkpoint", "save_checkpoint",
]
