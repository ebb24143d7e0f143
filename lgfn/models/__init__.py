"""The LGFN network, one module per component of the paper."""

from lgfn.models.alignment import DMDCU, StackedDeformableAlignment
from lgfn.models.deform_conv import ModulatedDeformConv, get_deform_conv
from lgfn.models.fusion import DualFusion, GlobalFusionBlock, LocalFusionBlock
from lgfn.models.lgfn import LGFN, LGFNConfig

__all__ = [
    "DMDCU",
    "LGFN",
    "DualFusion",
    "GlobalFusionBlock",
    "LGFNConfig",
    "LocalFusionBlock",
    "ModulatedDeformConv",
    "StackedDeformableAlignment",
    "get_deform_conv",
]
