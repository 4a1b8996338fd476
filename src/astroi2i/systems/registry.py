from astroi2i.registry import Registry

SYSTEMS = Registry("system")
