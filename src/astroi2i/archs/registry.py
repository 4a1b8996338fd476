from astroi2i.registry import Registry

ARCHS = Registry("architecture")
