from astroi2i.registry import Registry

LOSSES = Registry("loss")
