from astropy.config import ConfigItem
from astropy.io import fits

from astroi2i.io.fits_config import fits_config_fixed


def test_values_held_then_items_restored():
    namespace = type(fits.conf)
    names = [n for n, v in vars(namespace).items() if isinstance(v, ConfigItem)]
    before = {n: getattr(fits.conf, n) for n in names}
    assert "strip_header_whitespace" in names
    with fits.conf.set_temp("strip_header_whitespace", not before["strip_header_whitespace"]):
        flipped = fits.conf.strip_header_whitespace
        with fits_config_fixed():
            assert fits.conf.strip_header_whitespace == flipped  # the value in force
            assert not isinstance(vars(namespace)["strip_header_whitespace"], ConfigItem)
            with fits_config_fixed():  # nested: nothing to do, nothing undone
                pass
            assert fits.conf.strip_header_whitespace == flipped
            card = fits.Card.fromstring("OBJECT  = 'M 31    '")
            assert card.value == ("M 31" if flipped else "M 31    ")
    assert all(isinstance(vars(namespace)[n], ConfigItem) for n in names)
    assert {n: getattr(fits.conf, n) for n in names} == before  # set_temp undone as usual
